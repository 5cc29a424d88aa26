"""Per-trajectory measures on a cleaned fixes frame: speed, gaps, coverage, length, stops, H3 path.

Every function expects one trajectory's fixes sorted by ``t`` (what :func:`trajectories.clean`
returns) and computes on whole columns; the names follow MovingPandas (``add_speed``,
``ObservationGapSplitter``'s gaps, ``TrajectoryStopDetector``'s stops).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.hexes import points_to_cells

from . import _kernels as K
from .columns import DISTANCE_M, DURATION_S, LAT, LON, SPEED_KMH, T

__all__ = ["add_speed", "coverage", "gaps", "h3_path", "length_m", "stops"]


def _arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t_s = K.times_us(df[T]) / 1e6
    return (
        t_s,
        df[LON].to_numpy(dtype=np.float64),
        df[LAT].to_numpy(dtype=np.float64),
        np.zeros(t_s.size, dtype=np.int64),
    )


def _seconds(value) -> float:
    """A window bound as epoch seconds; accepts a tz-aware datetime / Timestamp or a number."""
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"window bounds must be timezone-aware; got naive {value!r}")
    return ts.value / 1e9


def add_speed(df: pd.DataFrame) -> pd.DataFrame:
    """Add the step distance, duration and speed from the previous fix to each fix.

    Parameters
    ----------
    df : pandas.DataFrame
        One trajectory's fixes sorted by ``t``.

    Returns
    -------
    pandas.DataFrame
        A copy with ``distance_m`` (haversine, metres), ``duration_s`` and ``speed_kmh``. As in
        MovingPandas, the first row has distance 0 and the second row's speed; a single fix has
        speed NaN.

    Examples
    --------
    >>> t = pd.to_datetime([0, 60, 120], unit="s", utc=True)
    >>> df = pd.DataFrame({"t": t, "lon": [117.0, 117.0, 117.0], "lat": [31.0, 31.01, 31.01]})
    >>> add_speed(df)["speed_kmh"].round(1).tolist()
    [66.7, 66.7, 0.0]
    """
    t_s, lon, lat, gid = _arrays(df)
    distance_m, duration_s, speed_kmh = K.step_arrays(t_s, lon, lat, gid)
    return df.assign(**{DISTANCE_M: distance_m, DURATION_S: duration_s, SPEED_KMH: speed_kmh})


def gaps(df: pd.DataFrame, *, gap_s: float = 1800.0) -> pd.DataFrame:
    """Observation gaps: steps between consecutive fixes longer than ``gap_s``.

    Parameters
    ----------
    df : pandas.DataFrame
        One trajectory's fixes sorted by ``t``.
    gap_s : float
        Longest step that is not a gap, seconds (``ObservationGapSplitter`` splits where the time
        difference is greater than ``gap``).

    Returns
    -------
    pandas.DataFrame
        Columns ``start``, ``end`` (UTC timestamps of the fixes on either side), ``duration_s``,
        ``start_lon``, ``start_lat``, ``end_lon``, ``end_lat``; one row per gap.

    Examples
    --------
    >>> t = pd.to_datetime([0, 60, 4000], unit="s", utc=True)
    >>> df = pd.DataFrame({"t": t, "lon": [117.0, 117.0, 117.1], "lat": [31.0, 31.0, 31.0]})
    >>> gaps(df)["duration_s"].tolist()
    [3940.0]
    """
    t_s, lon, lat, _ = _arrays(df)
    return _gaps_frame(t_s, lon, lat, gap_s)


def _gaps_frame(t_s: np.ndarray, lon: np.ndarray, lat: np.ndarray, gap_s: float) -> pd.DataFrame:
    """:func:`gaps` on one trajectory's arrays."""
    return _gaps_frame_at(t_s, lon, lat, _gap_steps(t_s, gap_s))


def _gap_steps(t_s: np.ndarray, gap_s: float, same: np.ndarray | None = None) -> np.ndarray:
    """Positions ``k`` of the gaps (fix ``k`` to fix ``k + 1`` longer than ``gap_s``) in sorted fix times; with
    ``same`` (``_kernels.same_as_prev`` of the track ids) only within a track, for tracks laid end to end."""
    gap = np.diff(t_s) > gap_s
    if same is not None:
        gap &= same[1:]
    return np.flatnonzero(gap)


def _gaps_frame_at(t_s: np.ndarray, lon: np.ndarray, lat: np.ndarray, at: np.ndarray) -> pd.DataFrame:
    """The gaps frame of the gap positions ``at`` (:func:`_gap_steps`)."""
    if at.size == 0 and _EMPTY["gaps"] is not None:  # the common case; building an empty frame costs as much
        return _EMPTY["gaps"].copy()
    out = pd.DataFrame(
        {
            "start": _utc_times(np.round(t_s[at] * 1e6).astype(np.int64)),
            "end": _utc_times(np.round(t_s[at + 1] * 1e6).astype(np.int64)),
            "duration_s": t_s[at + 1] - t_s[at],
            "start_lon": lon[at],
            "start_lat": lat[at],
            "end_lon": lon[at + 1],
            "end_lat": lat[at + 1],
        }
    )
    if at.size == 0:
        _EMPTY["gaps"] = out.copy()
    return out


_UTC_US = pd.DatetimeTZDtype("us", "UTC")


def _utc_times(t_us: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """:func:`_kernels.to_timestamps` as an array, not an index: a DataFrame takes it in half the time (the stops
    and gaps frames are built for every track)."""
    return pd.array(t_us.view("datetime64[us]"), dtype=_UTC_US)


# Empty gaps and stops frames, built once by the code that builds the others (same columns and dtypes); callers
# get copies.
_EMPTY: dict[str, pd.DataFrame | None] = {"gaps": None, "stops": None}


def coverage(df: pd.DataFrame, start, end, *, gap_s: float = 1800.0) -> float:
    """Share of the window [start, end] covered by the trajectory's fixes.

    A step between consecutive fixes covers its span when it lasts at most ``gap_s``; longer steps
    and the parts of the window before the first and after the last fix are uncovered.

    Parameters
    ----------
    df : pandas.DataFrame
        One trajectory's fixes sorted by ``t``.
    start, end : datetime-like (tz-aware) or float
        Window bounds (floats are epoch seconds).
    gap_s : float
        Longest step that still counts as covered, seconds.

    Returns
    -------
    float
        From 0 to 1; NaN when the window is empty (end <= start).

    Examples
    --------
    >>> t = pd.to_datetime([600, 1200, 1800, 5400], unit="s", utc=True)
    >>> df = pd.DataFrame({"t": t, "lon": [117.0] * 4, "lat": [31.0] * 4})
    >>> coverage(df, 0, 6000)   # 600-1800 covered; 1800-5400 is a gap
    0.2
    """
    start_s, end_s = _seconds(start), _seconds(end)
    if not end_s > start_s:
        return float("nan")
    t_s, _, _, gid = _arrays(df)
    ws, we = np.array([start_s]), np.array([end_s])
    return float(K.covered_s(t_s, gid, 1, ws, we, gap_s=gap_s)[0] / (end_s - start_s))


def length_m(df: pd.DataFrame) -> float:
    """Length of the trajectory as the sum of haversine steps, metres (0.0 below two fixes).

    Examples
    --------
    >>> df = pd.DataFrame({"t": pd.to_datetime([0, 60], unit="s", utc=True),
    ...                    "lon": [117.0, 117.0], "lat": [31.0, 31.01]})
    >>> round(length_m(df), 1)
    1112.0
    """
    t_s, lon, lat, gid = _arrays(df)
    distance_m, _, _ = K.step_arrays(t_s, lon, lat, gid)
    return float(distance_m.sum())


def stops(
    df: pd.DataFrame,
    *,
    min_duration_s: float = 600.0,
    max_diameter_m: float = 200.0,
) -> pd.DataFrame:
    """Stops: stretches of at least ``min_duration_s`` whose fixes fit within ``max_diameter_m``.

    Same semantics as MovingPandas' ``TrajectoryStopDetector.get_stop_points(max_diameter,
    min_duration)``: a stop starts where the fixes over the next ``min_duration`` stay within the
    diameter, grows while they still do, and reports the median position. The diameter is the
    diagonal of the fixes' bounding box in a local metric frame (MovingPandas uses the minimum
    rotated rectangle; both bound the true diameter from above).

    Parameters
    ----------
    df : pandas.DataFrame
        One trajectory's fixes sorted by ``t``.
    min_duration_s : float
        Shortest stop, seconds.
    max_diameter_m : float
        Largest extent of a stop, metres.

    Returns
    -------
    pandas.DataFrame
        Columns ``start``, ``end`` (UTC), ``duration_s``, ``lon``, ``lat`` (median of the stop's
        fixes), ``n`` (fixes); one row per stop in time order.

    Examples
    --------
    >>> t = pd.to_datetime(np.arange(0, 1800, 60), unit="s", utc=True)
    >>> lat = np.r_[31.0 + 0.005 * np.arange(9), np.full(12, 31.05), 31.055 + 0.005 * np.arange(9)]
    >>> s = stops(pd.DataFrame({"t": t, "lon": 117.0, "lat": lat}))
    >>> s["duration_s"].tolist(), s["n"].tolist()
    ([660.0], [12])
    """
    t_s, lon, lat, gid = _arrays(df)
    first_idx, last_idx = K.stop_ranges(
        t_s, lon, lat, gid, min_duration_s=min_duration_s, max_diameter_m=max_diameter_m
    )
    return _stops_frame(t_s, lon, lat, first_idx, last_idx)


def _stops_frame(t_s, lon, lat, first_idx, last_idx) -> pd.DataFrame:
    if len(first_idx) == 0 and _EMPTY["stops"] is not None:
        return _EMPTY["stops"].copy()
    return _stops_frame_of(K.stop_table(t_s, lon, lat, first_idx, last_idx))


def _stops_frame_of(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The stops frame of :func:`_kernels.stop_table`'s columns."""
    if len(cols["n"]) == 0 and _EMPTY["stops"] is not None:
        return _EMPTY["stops"].copy()
    out = pd.DataFrame(
        {
            "start": _utc_times(np.round(cols["start_s"] * 1e6).astype(np.int64)),
            "end": _utc_times(np.round(cols["end_s"] * 1e6).astype(np.int64)),
            "duration_s": cols["duration_s"],
            "lon": cols["lon"],
            "lat": cols["lat"],
            "n": cols["n"],
        }
    )
    if len(cols["n"]) == 0:
        _EMPTY["stops"] = out.copy()
    return out


def h3_path(df: pd.DataFrame, *, res: int = 8) -> np.ndarray:
    """H3 cells the trajectory passes through, in order, consecutive repeats collapsed.

    Parameters
    ----------
    df : pandas.DataFrame
        One trajectory's fixes sorted by ``t``.
    res : int
        H3 resolution (8: ~0.46 km edges).

    Returns
    -------
    numpy.ndarray of int64
        One cell per run of fixes in the same cell; empty for no fixes. Only cells holding a fix
        are listed (no grid-path filling between distant fixes).

    Examples
    --------
    >>> df = pd.DataFrame({"t": pd.to_datetime([0, 30, 60], unit="s", utc=True),
    ...                    "lon": [117.23, 117.23, 117.30], "lat": [31.82, 31.82, 31.82]})
    >>> h3_path(df, res=8).size
    2
    """
    return _h3_path(df[LON].to_numpy(dtype=np.float64), df[LAT].to_numpy(dtype=np.float64), res)


def _h3_path(lon: np.ndarray, lat: np.ndarray, res: int) -> np.ndarray:
    """:func:`h3_path` on one trajectory's arrays."""
    cells = points_to_cells(lon, lat, res)
    return cells[_run_starts(cells)]


def _run_starts(cells: np.ndarray, same: np.ndarray | None = None) -> np.ndarray:
    """Positions where a run of fixes in one cell starts; with ``same`` (as in :func:`_gap_steps`) a track's first
    fix starts a run too."""
    start = np.ones(cells.size, dtype=bool)
    start[1:] = cells[1:] != cells[:-1]
    if same is not None:
        start[1:] |= ~same[1:]
    return np.flatnonzero(start)
