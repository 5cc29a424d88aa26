"""Build trajectories from raw fixes: clean, clip to the waybill window, measure, export (one or many at once)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geo.hexes import points_to_cells

from . import _kernels as K
from .clean import CleanReport, _check_columns, clean_arrays, params_from, report_of
from .columns import DISTANCE_M, DURATION_S, LAT, LON, SPEED_KMH, T
from .errors import TrajectoryError
from .measures import _gap_steps, _gaps_frame_at, _run_starts, _seconds, _stops_frame_of

if TYPE_CHECKING:
    import movingpandas

__all__ = ["BuiltTrajectory", "TrajectoryStats", "build", "build_many", "linestring_m_wkt", "to_movingpandas"]


@dataclass(frozen=True)
class TrajectoryStats:
    """Summary of one cleaned trajectory within its window.

    Attributes
    ----------
    n_fixes : int
        Fixes kept (cleaned, inside the window).
    started_at, ended_at : pandas.Timestamp or None
        First and last fix (UTC); None without fixes.
    length_m : float
        Sum of haversine steps, metres.
    coverage : float
        Share of the window spanned by steps of at most ``gap_s`` (0-1).
    max_gap_s : float
        Longest span of the window without a fix, including before the first and after the last.
    max_speed_kmh, median_speed_kmh : float
        Over the steps between consecutive fixes; NaN below two fixes.
    n_stops : int
        Stops found by :func:`trajectories.measures.stops`.
    """

    n_fixes: int
    started_at: pd.Timestamp | None
    ended_at: pd.Timestamp | None
    length_m: float
    coverage: float
    max_gap_s: float
    max_speed_kmh: float
    median_speed_kmh: float
    n_stops: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (ISO-8601 times, None for NaN)."""
        # Field by field, not dataclasses.asdict: asdict deep-copies every value (a Timestamp each time), and this
        # runs for every trajectory stored.
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in out.items():
            if isinstance(value, pd.Timestamp):
                out[key] = value.isoformat()
            elif isinstance(value, float) and math.isnan(value):
                out[key] = None
        return out


@dataclass(frozen=True)
class BuiltTrajectory:
    """A cleaned trajectory and everything measured on it.

    Attributes
    ----------
    fixes : pandas.DataFrame
        Cleaned fixes inside the window, sorted by ``t``, with ``distance_m``, ``duration_s``,
        ``speed_kmh``; built from the input on first access.
    columns : dict of str to numpy.ndarray
        The same fixes as arrays (``t_us`` int64 epoch microseconds, ``lon``, ``lat``, ``distance_m``,
        ``duration_s``, ``speed_kmh``): the rules and the storage read these, and a back-fill builds no frame.
    clean_report : CleanReport
        What cleaning removed (counts over all fixes received, in or out of the window).
    stats : TrajectoryStats
    stops : pandas.DataFrame
        See :func:`trajectories.measures.stops`; built from ``stop_table`` on first access.
    stop_table : dict of str to numpy.ndarray
        The stops as arrays (``start_s, end_s, duration_s, lon, lat, n``): verification stores them as JSON
        without building the frame, which cost as much as cleaning a track.
    gaps : pandas.DataFrame
        See :func:`trajectories.measures.gaps`; built from ``gap_steps`` on first access.
    gap_steps : numpy.ndarray of int64
        Positions ``k`` in ``columns`` of the gaps (fix ``k`` to ``k + 1``): most tracks have none, and a
        back-fill builds the frame only for those that do.
    h3_path : numpy.ndarray of int64
        See :func:`trajectories.measures.h3_path`.
    window_start, window_end : pandas.Timestamp
    input_fixes, keep : pandas.DataFrame, numpy.ndarray
        The fixes received and the positions of the kept ones in them (what ``fixes`` is taken from).
    """

    columns: dict[str, np.ndarray] = field(repr=False, compare=False)
    clean_report: CleanReport
    stats: TrajectoryStats
    stop_table: dict[str, np.ndarray] = field(repr=False, compare=False)
    gap_steps: np.ndarray = field(repr=False, compare=False)
    h3_path: np.ndarray
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    # the input (a shallow copy: copy-on-write keeps it as received) and the positions of the kept fixes in it
    input_fixes: pd.DataFrame = field(repr=False, compare=False)
    keep: np.ndarray = field(repr=False, compare=False)

    @cached_property
    def fixes(self) -> pd.DataFrame:
        c = self.columns
        return _take(self.input_fixes, self.keep,
                     {DISTANCE_M: c[DISTANCE_M], DURATION_S: c[DURATION_S], SPEED_KMH: c[SPEED_KMH]})

    @cached_property
    def gaps(self) -> pd.DataFrame:
        c = self.columns
        return _gaps_frame_at(c["t_us"] / 1e6, c[LON], c[LAT], self.gap_steps)

    @cached_property
    def stops(self) -> pd.DataFrame:  # cached_property writes the instance dict: fine on a frozen dataclass
        return _stops_frame_of(self.stop_table)


def build(
    fixes: pd.DataFrame,
    *,
    window_start,
    window_end,
    gap_s: float = 1800.0,
    stop_min_duration_s: float = 600.0,
    stop_max_diameter_m: float = 200.0,
    h3_res: int = 8,
    max_speed_kmh: float = 130.0,
) -> BuiltTrajectory:
    """Clean one source's fixes, keep those inside the window and measure them.

    Parameters
    ----------
    fixes : pandas.DataFrame
        Raw fixes of one vehicle and one source (``t``, ``lon``, ``lat``; more columns are kept).
    window_start, window_end : datetime-like, tz-aware
        The waybill window, e.g. [despatch − 2 h, receipt + 2 h].
    gap_s : float
        Steps longer than this are gaps (uncovered), seconds.
    stop_min_duration_s, stop_max_diameter_m : float
        Stop detection parameters.
    h3_res : int
        Resolution of the H3 path.
    max_speed_kmh : float
        Passed to :func:`trajectories.clean` (jump detection).

    Returns
    -------
    BuiltTrajectory

    Notes
    -----
    Cleaning runs on all fixes received, before clipping, so that outlier tests at the window's
    edges see both neighbours.

    Examples
    --------
    >>> t = pd.to_datetime(np.arange(0, 3600, 60), unit="s", utc=True)
    >>> df = pd.DataFrame({"t": t, "lon": np.linspace(117.0, 117.5, 60), "lat": 31.0})
    >>> b = build(df, window_start=t[0], window_end=t[-1])
    >>> b.stats.n_fixes, b.stats.coverage, round(b.stats.length_m)
    (60, 1.0, 47656)
    """
    return build_many(
        [fixes], [(window_start, window_end)], gap_s=gap_s, stop_min_duration_s=stop_min_duration_s,
        stop_max_diameter_m=stop_max_diameter_m, h3_res=h3_res, max_speed_kmh=max_speed_kmh,
    )[0]


def build_many(
    frames: Sequence[pd.DataFrame],
    windows: Sequence[tuple[Any, Any]],
    *,
    gap_s: float = 1800.0,
    stop_min_duration_s: float = 600.0,
    stop_max_diameter_m: float = 200.0,
    h3_res: int = 8,
    max_speed_kmh: float = 130.0,
) -> list[BuiltTrajectory]:
    """:func:`build` for many trajectories in one pass: ``build(frames[j], window_start=windows[j][0],
    window_end=windows[j][1], ...)`` for every j, with each kernel run once over all of them.

    A verification chunk builds hundreds of short tracks; one call per track spent most of its time in the
    kernels' fixed cost per call, not in the fixes. The kernels mask every step where the trajectory changes
    (as :func:`trajectories.bulk.bulk` uses them), so each result is the one :func:`build` gives.
    """
    if len(frames) != len(windows):
        raise ValueError(f"{len(frames)} frames but {len(windows)} windows")
    n_groups = len(frames)
    if n_groups == 0:
        return []
    for f in frames:
        _check_columns(f)
    # copy-on-write shallow copies: the inputs as received, for ``fixes`` and the reports' ``removed``
    frames = [f.copy(deep=False) for f in frames]
    ws_s = np.array([_seconds(w[0]) for w in windows], dtype=np.float64)
    we_s = np.array([_seconds(w[1]) for w in windows], dtype=np.float64)
    sizes = np.array([len(f) for f in frames], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    t_in = np.concatenate([K.times_us(f[T]) for f in frames]) if offsets[-1] else np.zeros(0, dtype=np.int64)
    lon_in = np.concatenate([f[LON].to_numpy(dtype=np.float64) for f in frames])
    lat_in = np.concatenate([f[LAT].to_numpy(dtype=np.float64) for f in frames])
    gid_in = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    # clean + clip + measure on flat arrays (clean_positions' cleaning, all tracks at once)
    order, reason, out_of_order = clean_arrays(t_in, lon_in, lat_in, gid_in, params_from(max_speed_kmh=max_speed_kmh))
    if out_of_order.size < n_groups:  # clean_arrays counts up to the last group with a fix
        out_of_order = np.concatenate([out_of_order, np.zeros(n_groups - out_of_order.size, dtype=np.int64)])
    gid = gid_in[order]
    t_s = t_in[order] / 1e6
    inside = (t_s >= ws_s[gid]) & (t_s <= we_s[gid])
    keep = order[inside]
    gid, t_s = gid[inside], t_s[inside]
    lon, lat, t_us = lon_in[keep], lat_in[keep], t_in[keep]
    distance_m, duration_s, speed_kmh = K.step_arrays(t_s, lon, lat, gid)
    first_idx, last_idx = K.stop_ranges(
        t_s, lon, lat, gid, min_duration_s=stop_min_duration_s, max_diameter_m=stop_max_diameter_m
    )
    cols = K.group_stats(
        t_s, lon, lat, gid, n_groups, ws_s, we_s, gap_s=gap_s, stop_min_duration_s=stop_min_duration_s,
        stop_max_diameter_m=stop_max_diameter_m,
        steps=(distance_m, duration_s, speed_kmh),  # computed once, for the frames and the stats
        stop_first_idx=first_idx,
    )
    stops = K.stop_table(t_s, lon, lat, first_idx, last_idx)
    same = K.same_as_prev(gid)
    gap_at = _gap_steps(t_s, gap_s, same)
    cells = points_to_cells(lon, lat, h3_res)
    path_at = _run_starts(cells, same)  # the H3 path of each track: one cell per run
    n_out = np.bincount(gid_in[order], minlength=n_groups)

    bounds = np.searchsorted(gid, np.arange(n_groups + 1)).tolist()  # kept fixes of track j: bounds[j]:bounds[j+1]
    stop_bounds = np.searchsorted(gid[first_idx], np.arange(n_groups + 1)).tolist()
    gap_bounds = np.searchsorted(gid[gap_at], np.arange(n_groups + 1)).tolist()
    path_bounds = np.searchsorted(gid[path_at], np.arange(n_groups + 1)).tolist()
    out = []
    for j, f in enumerate(frames):
        a, z, o = bounds[j], bounds[j + 1], int(offsets[j])
        sa, sz = stop_bounds[j], stop_bounds[j + 1]
        report = report_of(f, reason[o:o + int(sizes[j])], int(n_out[j]), int(out_of_order[j]))
        out.append(BuiltTrajectory(
            columns={"t_us": t_us[a:z], LON: lon[a:z], LAT: lat[a:z], DISTANCE_M: distance_m[a:z],
                     DURATION_S: duration_s[a:z], SPEED_KMH: speed_kmh[a:z]},
            input_fixes=f,
            keep=keep[a:z] - o,
            clean_report=report,
            stats=stats_from_columns(cols, j),
            stop_table={k: v[sa:sz] for k, v in stops.items()},
            gap_steps=gap_at[gap_bounds[j]:gap_bounds[j + 1]] - a,
            h3_path=cells[path_at[path_bounds[j]:path_bounds[j + 1]]],
            window_start=pd.Timestamp(ws_s[j], unit="s", tz="UTC"),
            window_end=pd.Timestamp(we_s[j], unit="s", tz="UTC"),
        ))
    return out


def _take(fixes: pd.DataFrame, keep: np.ndarray, extra: dict[str, np.ndarray]) -> pd.DataFrame:
    """``fixes.iloc[keep].reset_index(drop=True).assign(**extra)``, built column by column: half the time of the
    pandas chain, which runs for every waybill and source verified."""
    if not fixes.columns.is_unique:
        return fixes.iloc[keep].reset_index(drop=True).assign(**extra)
    data: dict[Any, Any] = {}
    for name in fixes.columns:
        values = fixes[name]._values[keep]  # ndarray, or the column's extension array (tz-aware times)
        # an object ndarray on its own would be inferred as a string column under pandas 3: keep it object
        data[name] = pd.Series(values, dtype=object, copy=False) if values.dtype == object else values
    data.update(extra)
    return pd.DataFrame(data)


def stats_from_columns(cols: dict[str, np.ndarray], j: int) -> TrajectoryStats:
    """Row ``j`` of :func:`_kernels.group_stats`'s columns as a TrajectoryStats."""

    def _ts(seconds: float) -> pd.Timestamp | None:
        return None if np.isnan(seconds) else pd.Timestamp(round(seconds * 1e6), unit="us", tz="UTC")

    return TrajectoryStats(
        n_fixes=int(cols["n_fixes"][j]),
        started_at=_ts(cols["started_s"][j]),
        ended_at=_ts(cols["ended_s"][j]),
        length_m=float(cols["length_m"][j]),
        coverage=float(cols["coverage"][j]),
        max_gap_s=float(cols["max_gap_s"][j]),
        max_speed_kmh=float(cols["max_speed_kmh"][j]),
        median_speed_kmh=float(cols["median_speed_kmh"][j]),
        n_stops=int(cols["n_stops"][j]),
    )


def to_movingpandas(built: BuiltTrajectory, traj_id) -> movingpandas.Trajectory:
    """The cleaned fixes as a ``movingpandas.Trajectory`` (what analysts get).

    Parameters
    ----------
    built : BuiltTrajectory
    traj_id : hashable
        Trajectory id (e.g. the waybill and vehicle).

    Returns
    -------
    movingpandas.Trajectory
        EPSG:4326 points indexed by naive UTC time: MovingPandas drops time zones (with a warning),
        so they are converted to UTC and dropped here on purpose.

    Raises
    ------
    TrajectoryError
        If fewer than two fixes remain (MovingPandas needs two).
    """
    import geopandas as gpd
    import movingpandas as mpd

    fixes = built.fixes
    if len(fixes) < 2:
        raise TrajectoryError(f"a MovingPandas Trajectory needs at least 2 fixes; got {len(fixes)}")
    naive_utc = fixes[T].dt.tz_convert("UTC").dt.tz_localize(None)
    gdf = gpd.GeoDataFrame(
        fixes.drop(columns=[T]),
        geometry=gpd.points_from_xy(fixes[LON], fixes[LAT]),
        crs="EPSG:4326",
        index=pd.DatetimeIndex(naive_utc, name=T),
    )
    return mpd.Trajectory(gdf, traj_id)


def linestring_m_wkt(fixes: pd.DataFrame) -> str | None:
    """The fixes as ``LINESTRING M (lon lat epoch_s, ...)`` for PostGIS.

    Parameters
    ----------
    fixes : pandas.DataFrame
        Fixes sorted by ``t`` with strictly increasing times (as :func:`trajectories.clean` leaves them).

    Returns
    -------
    str or None
        WKT with M = seconds since the Unix epoch (fractions kept), valid for
        ``ST_IsValidTrajectory``; None below two fixes.

    Raises
    ------
    TrajectoryError
        If the times are not strictly increasing.

    Examples
    --------
    >>> df = pd.DataFrame({"t": pd.to_datetime([1.5e9, 1.5e9 + 30.5], unit="s", utc=True),
    ...                    "lon": [117.0, 117.001], "lat": [31.0, 31.0]})
    >>> linestring_m_wkt(df)
    'LINESTRING M (117 31 1500000000, 117.001 31 1500000030.5)'
    >>> linestring_m_wkt(df.iloc[:1]) is None
    True
    """
    if len(fixes) < 2:
        return None
    t_us = K.times_us(fixes[T])
    if not np.all(np.diff(t_us) > 0):
        raise TrajectoryError("linestring_m_wkt needs strictly increasing times; clean() the fixes first")
    lon = np.round(fixes[LON].to_numpy(dtype=np.float64), 7)
    lat = np.round(fixes[LAT].to_numpy(dtype=np.float64), 7)
    whole, frac = np.divmod(t_us, 1_000_000)
    # Integer arithmetic for M keeps microseconds exact (a float would print 1500000030.4999998).
    m = [f"{w}.{f:06d}".rstrip("0").rstrip(".") for w, f in zip(whole.tolist(), frac.tolist())]
    coords = ", ".join(
        f"{x:.7f}".rstrip("0").rstrip(".") + " " + f"{y:.7f}".rstrip("0").rstrip(".") + " " + mm
        for x, y, mm in zip(lon.tolist(), lat.tolist(), m)
    )
    return f"LINESTRING M ({coords})"
