"""The per-trajectory statistics for many trajectories at once (back-fills), without groupby."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _kernels as K
from .clean import clean_arrays, params_from
from .columns import LAT, LON, TRAJ_ID, T
from .errors import FixesSchemaError

__all__ = ["bulk"]

_STATS_COLUMNS = (
    "n_fixes",
    "started_at",
    "ended_at",
    "length_m",
    "coverage",
    "max_gap_s",
    "max_speed_kmh",
    "median_speed_kmh",
    "n_stops",
)


def bulk(
    fixes: pd.DataFrame,
    *,
    windows: pd.DataFrame | None = None,
    gap_s: float = 1800.0,
    stop_min_duration_s: float = 600.0,
    stop_max_diameter_m: float = 200.0,
    max_speed_kmh: float = 130.0,
) -> pd.DataFrame:
    """Clean and measure many trajectories in one pass: one statistics row per ``traj_id``.

    Agrees with :func:`trajectories.build` run on each trajectory separately (same cleaning, same
    clipping to the window, same kernels), but every step runs once over the whole frame, with
    per-step values masked where ``traj_id`` changes.

    Parameters
    ----------
    fixes : pandas.DataFrame
        Raw fixes with ``traj_id``, ``t`` (tz-aware), ``lon``, ``lat``; any order.
    windows : pandas.DataFrame, optional
        ``window_start`` and ``window_end`` (tz-aware) per trajectory, indexed by ``traj_id`` or
        with a ``traj_id`` column. Without it, each trajectory's window is its first to last
        received fix.
    gap_s, stop_min_duration_s, stop_max_diameter_m, max_speed_kmh : float
        As in :func:`trajectories.build`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``traj_id`` (sorted), with the :class:`TrajectoryStats` fields plus the cleaning
        counts ``n_in``, ``invalid``, ``duplicates``, ``out_of_order``, ``spikes``, ``jumps``.

    Raises
    ------
    FixesSchemaError
        If a column is missing, or ``windows`` lacks a trajectory.

    Examples
    --------
    >>> t = pd.to_datetime([0, 60, 120, 0, 60], unit="s", utc=True)
    >>> df = pd.DataFrame({"traj_id": ["a", "a", "a", "b", "b"], "t": t,
    ...                    "lon": [117.0, 117.0, 117.0, 118.0, 118.0],
    ...                    "lat": [31.0, 31.01, 31.02, 31.0, 31.0]})
    >>> out = bulk(df)
    >>> out["n_fixes"].tolist(), out["length_m"].round().tolist()
    ([3, 2], [2224.0, 0.0])
    """
    missing = [c for c in (TRAJ_ID, T, LON, LAT) if c not in fixes.columns]
    if missing:
        raise FixesSchemaError(f"fixes lack column(s) {missing}; have {list(fixes.columns)}")
    codes, ids = pd.factorize(fixes[TRAJ_ID], sort=True)
    n_groups = len(ids)
    t_us = K.times_us(fixes[T])
    lon = fixes[LON].to_numpy(dtype=np.float64)
    lat = fixes[LAT].to_numpy(dtype=np.float64)
    gid_all = codes.astype(np.int64)
    order, reason, out_of_order = clean_arrays(
        t_us, lon, lat, gid_all, params_from(max_speed_kmh=max_speed_kmh)
    )
    ws_s, we_s = _windows(windows, ids, t_us, gid_all, n_groups)

    gid = gid_all[order]
    t_s = t_us[order] / 1e6
    inside = (t_s >= ws_s[gid]) & (t_s <= we_s[gid])
    gid, t_s = gid[inside], t_s[inside]
    cols = K.group_stats(
        t_s,
        lon[order][inside],
        lat[order][inside],
        gid,
        n_groups,
        ws_s,
        we_s,
        gap_s=gap_s,
        stop_min_duration_s=stop_min_duration_s,
        stop_max_diameter_m=stop_max_diameter_m,
    )
    counts = np.zeros((5, n_groups), dtype=np.int64)
    for code in range(1, 5):
        counts[code] = np.bincount(gid_all[reason == code], minlength=n_groups)
    out = pd.DataFrame(
        {
            "n_fixes": cols["n_fixes"],
            "started_at": _timestamps(cols["started_s"]),
            "ended_at": _timestamps(cols["ended_s"]),
            "length_m": cols["length_m"],
            "coverage": cols["coverage"],
            "max_gap_s": cols["max_gap_s"],
            "max_speed_kmh": cols["max_speed_kmh"],
            "median_speed_kmh": cols["median_speed_kmh"],
            "n_stops": cols["n_stops"],
            "n_in": np.bincount(gid_all, minlength=n_groups),
            "invalid": counts[1],
            "duplicates": counts[2],
            "out_of_order": out_of_order,
            "spikes": counts[3],
            "jumps": counts[4],
        },
        index=pd.Index(ids, name=TRAJ_ID),
    )
    return out


def _timestamps(seconds: np.ndarray) -> pd.Series:
    us = np.where(np.isnan(seconds), 0, np.round(seconds * 1e6)).astype(np.int64)
    ts = pd.Series(K.to_timestamps(us))
    return ts.where(~np.isnan(seconds)).to_numpy()


def _windows(windows, ids, t_us, gid, n_groups) -> tuple[np.ndarray, np.ndarray]:
    if windows is None:
        valid = t_us != np.iinfo(np.int64).min
        ws = np.full(n_groups, np.nan)
        we = np.full(n_groups, np.nan)
        np.fmin.at(ws, gid[valid], t_us[valid] / 1e6)
        np.fmax.at(we, gid[valid], t_us[valid] / 1e6)
        return ws, we
    w = windows.set_index(TRAJ_ID) if TRAJ_ID in windows.columns else windows
    absent = pd.Index(ids).difference(w.index)
    if len(absent):
        raise FixesSchemaError(f"windows lack {len(absent)} traj_id(s), e.g. {list(absent[:3])}")
    w = w.loc[ids]
    return K.times_us(w["window_start"], name="window_start") / 1e6, K.times_us(
        w["window_end"], name="window_end"
    ) / 1e6
