"""Array kernels shared by the single-trajectory and the bulk paths.

Every kernel works on flat numpy arrays holding one or many trajectories, sorted by
(trajectory, time), with ``gid`` the trajectory's integer code (non-decreasing). Per-step values
come from shifted arrays and are masked where ``gid`` changes, so one call handles a thousand
trajectories as cheaply as one. Times are float64 seconds since the Unix epoch (UTC); positions
are WGS-84 degrees plus a local metric frame (x east, y north, metres) per trajectory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.distance import EARTH_RADIUS_M, haversine_m

from .errors import FixesSchemaError

__all__: list[str] = []  # private module: imported by the package's public modules only

_KMH_PER_MPS = 3.6


def times_us(values, *, name: str = "t") -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch (UTC); NaT becomes the int64 minimum."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    if series.size == 0:
        return np.zeros(0, dtype=np.int64)  # an empty column of any dtype is just no fixes
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        if pd.api.types.is_datetime64_dtype(series.dtype):
            raise FixesSchemaError(
                f"column {name!r} must be timezone-aware (UTC); got naive {series.dtype}. "
                "Localise it first, e.g. .dt.tz_localize('Asia/Shanghai')"
            )
        raise FixesSchemaError(f"column {name!r} must hold datetime64[us, UTC] values; got {series.dtype}")
    # asi8 is the UTC epoch count of a tz-aware array, NaT as the int64 minimum; to_numpy() would build
    # an object array under pandas 3 (seconds per million rows).
    return np.asarray(series.array.as_unit("us").asi8, dtype=np.int64)


def to_timestamps(t_us: np.ndarray) -> pd.DatetimeIndex:
    """Inverse of :func:`times_us`: ``datetime64[us, UTC]`` index."""
    return pd.DatetimeIndex(np.asarray(t_us, dtype=np.int64).view("datetime64[us]")).tz_localize("UTC")


def group_bounds(gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last positions of each run of equal ``gid`` values (``gid`` sorted)."""
    n = gid.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(gid[1:] != gid[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    ends = np.concatenate([change - 1, [n - 1]]).astype(np.int64)
    return starts, ends


def local_xy(lon: np.ndarray, lat: np.ndarray, gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equirectangular metres around each trajectory's first fix (x east, y north).

    Good to well under 1 % over a few tens of kilometres, which is all the spike and stop tests
    compare; long-distance values always use the haversine.
    """
    starts, ends = group_bounds(gid)
    counts = ends - starts + 1
    lon0 = np.repeat(lon[starts], counts)
    lat0 = np.repeat(lat[starts], counts)
    x = np.radians(lon - lon0) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
    y = np.radians(lat - lat0) * EARTH_RADIUS_M
    return x, y


def same_as_prev(gid: np.ndarray) -> np.ndarray:
    """True where the previous row belongs to the same trajectory (False on each first row)."""
    out = np.zeros(gid.size, dtype=bool)
    out[1:] = gid[1:] == gid[:-1]
    return out


def step_arrays(
    t_s: np.ndarray, lon: np.ndarray, lat: np.ndarray, gid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance (m), duration (s) and speed (km/h) of the step from the previous fix to each fix.

    First rows of a trajectory get distance 0 and duration 0, and the speed of the second row
    (MovingPandas' convention); a one-fix trajectory gets speed NaN.
    """
    n = t_s.size
    distance_m = np.zeros(n)
    duration_s = np.zeros(n)
    speed_kmh = np.full(n, np.nan)
    if n == 0:
        return distance_m, duration_s, speed_kmh
    step = same_as_prev(gid)
    d = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    dt = t_s[1:] - t_s[:-1]
    distance_m[1:] = np.where(step[1:], d, 0.0)
    duration_s[1:] = np.where(step[1:], dt, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed_kmh[1:] = np.where(step[1:], d / dt * _KMH_PER_MPS, np.nan)
    first = ~step
    second = np.zeros(n, dtype=bool)
    second[1:] = first[:-1] & step[1:]
    first_with_next = np.flatnonzero(first[:-1] & second[1:])
    speed_kmh[first_with_next] = speed_kmh[first_with_next + 1]
    return distance_m, duration_s, speed_kmh


# --- outlier (spike / jump) flags ---------------------------------------------------------------


def _shift(a: np.ndarray, k: int, fill: float = np.nan) -> np.ndarray:
    """Value at i - k (k > 0: previous rows; k < 0: next rows), ``fill`` beyond the ends."""
    out = np.full(a.size, fill, dtype=np.float64)
    if k > 0:
        out[k:] = a[:-k]
    elif k < 0:
        out[:k] = a[-k:]
    else:
        out[:] = a
    return out


def outlier_flags(
    t_s: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    gid: np.ndarray,
    *,
    max_speed_kmh: float,
    spike_min_m: float,
    spike_ratio: float,
    spike_max_step_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Isolated single-fix outliers: (spike, jump) boolean masks.

    A *spike* is a fix far from where its neighbours say it should be: from the position
    interpolated between the previous and next fix, and from the positions extrapolated forward
    from the two previous fixes and backward from the two next ones. At least two of these
    predictions must be available and *all* of them must miss by more than
    ``max(spike_min_m, spike_ratio * |next - previous|)``. Taking the closest prediction keeps
    genuine corners and speed changes (each fooling at most one prediction) while a lone GPS
    outlier fools none; a 3-point median would only halve it.

    A *jump* is a fix whose steps on both sides imply more than ``max_speed_kmh`` while the
    neighbours are plausible to each other (or, at a trajectory's end, while the next step is).

    Only isolated flags are returned (a flagged neighbour unflags both), so a block of two or more
    displaced fixes (a teleport) survives cleaning and is judged by the speed rule.
    """
    n = t_s.size
    if n < 3:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    x, y = local_xy(lon, lat, gid)
    g = gid.astype(np.float64)
    has_p1 = _shift(g, 1) == g
    has_p2 = has_p1 & (_shift(g, 2) == g)
    has_n1 = _shift(g, -1) == g
    has_n2 = has_n1 & (_shift(g, -2) == g)

    tp1, tp2, tn1, tn2 = _shift(t_s, 1), _shift(t_s, 2), _shift(t_s, -1), _shift(t_s, -2)
    xp1, xp2, xn1, xn2 = _shift(x, 1), _shift(x, 2), _shift(x, -1), _shift(x, -2)
    yp1, yp2, yn1, yn2 = _shift(y, 1), _shift(y, 2), _shift(y, -1), _shift(y, -2)
    dt_p, dt_pp = t_s - tp1, tp1 - tp2
    dt_n, dt_nn = tn1 - t_s, tn2 - tn1

    with np.errstate(invalid="ignore", divide="ignore"):
        ok_p = has_p1 & (dt_p <= spike_max_step_s)
        ok_n = has_n1 & (dt_n <= spike_max_step_s)
        ok_int = ok_p & ok_n
        # Extrapolating over a step much longer than the base step amplifies noise: cap the ratio.
        ok_fwd = ok_p & has_p2 & (dt_pp <= spike_max_step_s) & (dt_p <= 3.0 * dt_pp)
        ok_bwd = ok_n & has_n2 & (dt_nn <= spike_max_step_s) & (dt_n <= 3.0 * dt_nn)

        frac = dt_p / (dt_p + dt_n)
        r_int = np.hypot(x - (xp1 + frac * (xn1 - xp1)), y - (yp1 + frac * (yn1 - yp1)))
        kf = dt_p / dt_pp
        r_fwd = np.hypot(x - (xp1 + kf * (xp1 - xp2)), y - (yp1 + kf * (yp1 - yp2)))
        kb = dt_n / dt_nn
        r_bwd = np.hypot(x - (xn1 + kb * (xn1 - xn2)), y - (yn1 + kb * (yn1 - yn2)))

        residual = np.fmin(
            np.where(ok_int, r_int, np.inf),
            np.fmin(np.where(ok_fwd, r_fwd, np.inf), np.where(ok_bwd, r_bwd, np.inf)),
        )
        n_valid = ok_int.astype(np.int8) + ok_fwd + ok_bwd
        base_m = np.hypot(xn1 - xp1, yn1 - yp1)
        spike = (n_valid >= 2) & (residual > np.maximum(spike_min_m, spike_ratio * base_m))

        # Local metres are within a few per cent of the haversine over the distances that matter
        # here, and a threshold test on "impossible" needs no more (the speed rule itself uses
        # haversine); five haversines over every fix were most of the cleaning time.
        d_p = np.hypot(x - xp1, y - yp1)
        d_n = np.hypot(xn1 - x, yn1 - y)
        d_pn = base_m
        d_nn = np.hypot(xn2 - xn1, yn2 - yn1)
        d_pp = np.hypot(xp1 - xp2, yp1 - yp2)
        v_p = d_p / np.maximum(dt_p, 1e-6) * _KMH_PER_MPS
        v_n = d_n / np.maximum(dt_n, 1e-6) * _KMH_PER_MPS
        v_pn = d_pn / np.maximum(dt_p + dt_n, 1e-6) * _KMH_PER_MPS
        v_nn = d_nn / np.maximum(dt_nn, 1e-6) * _KMH_PER_MPS
        v_pp = d_pp / np.maximum(dt_pp, 1e-6) * _KMH_PER_MPS
        fast_p = has_p1 & (v_p > max_speed_kmh)
        fast_n = has_n1 & (v_n > max_speed_kmh)
        interior = fast_p & fast_n & (v_pn <= max_speed_kmh)
        head = ~has_p1 & fast_n & has_n2 & (v_nn <= max_speed_kmh)
        tail = ~has_n1 & fast_p & has_p2 & (v_pp <= max_speed_kmh)
        jump = interior | head | tail

    flag = spike | jump
    flag_prev = np.zeros(n, dtype=bool)
    flag_prev[1:] = flag[:-1]
    flag_next = np.zeros(n, dtype=bool)
    flag_next[:-1] = flag[1:]
    isolated = flag & ~(flag_prev & has_p1) & ~(flag_next & has_n1)
    return isolated & spike, isolated & ~spike


# --- range reductions and stops -----------------------------------------------------------------


def range_min_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of ``values[lo[j] : hi[j] + 1]`` for every j (inclusive, non-empty ranges).

    A sparse table built one level at a time: each level answers the ranges whose length falls in
    its power-of-two band and is then discarded, so memory stays O(n) and time O(n log L) for a
    longest range L.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    out_min = np.empty(lo.size)
    out_max = np.empty(lo.size)
    if lo.size == 0:
        return out_min, out_max
    length = hi - lo + 1
    level = np.floor(np.log2(length)).astype(np.int64)
    cur_min = values.astype(np.float64, copy=True)
    cur_max = cur_min.copy()
    for k in range(int(level.max()) + 1):
        sel = np.flatnonzero(level == k)
        if sel.size:
            right = hi[sel] - (1 << k) + 1
            out_min[sel] = np.minimum(cur_min[lo[sel]], cur_min[right])
            out_max[sel] = np.maximum(cur_max[lo[sel]], cur_max[right])
        half = 1 << k
        if cur_min.size > half:
            cur_min = np.minimum(cur_min[:-half], cur_min[half:])
            cur_max = np.maximum(cur_max[:-half], cur_max[half:])
    return out_min, out_max


def _extend_stop(x: np.ndarray, y: np.ndarray, i0: int, e0: int, last: int, max_diameter_m: float) -> int:
    """Last index e >= e0 with the bounding box of fixes i0..e under the diameter (i0..e0 is)."""
    x_lo, x_hi = x[i0 : e0 + 1].min(), x[i0 : e0 + 1].max()
    y_lo, y_hi = y[i0 : e0 + 1].min(), y[i0 : e0 + 1].max()
    pos, chunk = e0 + 1, 64
    while pos <= last:
        end = min(pos + chunk, last + 1)
        cx_lo = np.minimum.accumulate(np.minimum(x[pos:end], x_lo))
        cx_hi = np.maximum.accumulate(np.maximum(x[pos:end], x_hi))
        cy_lo = np.minimum.accumulate(np.minimum(y[pos:end], y_lo))
        cy_hi = np.maximum.accumulate(np.maximum(y[pos:end], y_hi))
        broken = np.flatnonzero(np.hypot(cx_hi - cx_lo, cy_hi - cy_lo) >= max_diameter_m)
        if broken.size:
            return pos + int(broken[0]) - 1
        x_lo, x_hi, y_lo, y_hi = cx_lo[-1], cx_hi[-1], cy_lo[-1], cy_hi[-1]
        pos, chunk = end, chunk * 2  # geometric growth keeps long stops O(length)
    return last


def stop_ranges(
    t_s: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    gid: np.ndarray,
    *,
    min_duration_s: float,
    max_diameter_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """First and last row index of every stop (TrajectoryStopDetector semantics).

    A stop starts at the earliest fix i from which the fixes up to ``t_i + min_duration_s`` fit in a
    box whose diagonal is under ``max_diameter_m``; it extends while the box of all its fixes stays
    under the diameter; the next stop may start at the first fix after it. The seed test runs on
    all fixes at once (range min/max); only the few accepted seeds are extended one by one.
    """
    n = t_s.size
    empty = np.zeros(0, dtype=np.int64)
    if n < 2:
        return empty, empty
    x, y = local_xy(lon, lat, gid)
    starts, ends = group_bounds(gid)
    counts = ends - starts + 1
    last_of = np.repeat(ends, counts)
    rel_t = t_s - np.repeat(t_s[starts], counts)
    stride = float(rel_t.max()) + 2.0 * float(min_duration_s) + 1.0
    rank = np.repeat(np.arange(starts.size, dtype=np.float64), counts)
    key = rel_t + rank * stride  # strictly grouped, monotone search key
    seed_end = np.searchsorted(key, key + min_duration_s, side="left")
    has_seed = seed_end <= last_of
    cand = np.flatnonzero(has_seed)
    if cand.size == 0:
        return empty, empty
    x_min, x_max = range_min_max(x, cand, seed_end[cand])
    y_min, y_max = range_min_max(y, cand, seed_end[cand])
    cand = cand[np.hypot(x_max - x_min, y_max - y_min) < max_diameter_m]
    first_idx, last_idx = [], []
    p = 0
    while p < cand.size:
        i0 = int(cand[p])
        e = _extend_stop(x, y, i0, int(seed_end[i0]), int(last_of[i0]), max_diameter_m)
        first_idx.append(i0)
        last_idx.append(e)
        p = int(np.searchsorted(cand, e + 1, side="left"))
    return np.asarray(first_idx, dtype=np.int64), np.asarray(last_idx, dtype=np.int64)


def stop_table(
    t_s: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    first_idx: np.ndarray,
    last_idx: np.ndarray,
) -> dict[str, np.ndarray]:
    """Columns of a stops table: start/end seconds, duration, median position, fix count."""
    med_lon = _range_medians(lon, first_idx, last_idx)
    med_lat = _range_medians(lat, first_idx, last_idx)
    return {
        "start_s": t_s[first_idx],
        "end_s": t_s[last_idx],
        "duration_s": t_s[last_idx] - t_s[first_idx],
        "lon": med_lon,
        "lat": med_lat,
        "n": (last_idx - first_idx + 1).astype(np.int64),
    }


def _range_medians(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``np.median(values[lo[j] : hi[j] + 1])`` for every j (non-empty ranges), with one sort for all of them: a
    back-fill chunk has thousands of stops, and one np.median call each was most of the stop table's time."""
    n = hi - lo + 1
    if n.size == 0:
        return np.empty(0)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])  # of each range in the gathered values
    seg = np.repeat(np.arange(n.size), n)
    v = values[np.repeat(lo - start, n) + np.arange(int(n.sum()))]
    v = v[np.lexsort((v, seg))]
    mid_lo, mid_hi = v[start + (n - 1) // 2], v[start + n // 2]
    # np.median's own arithmetic: the middle value, or the mean of the two middle values
    return np.where(n % 2 == 1, mid_lo, (mid_lo + mid_hi) / 2)


# --- coverage and gaps --------------------------------------------------------------------------


def covered_s(
    t_s: np.ndarray,
    gid: np.ndarray,
    n_groups: int,
    window_start_s: np.ndarray,
    window_end_s: np.ndarray,
    *,
    gap_s: float,
) -> np.ndarray:
    """Seconds of each group's window spanned by steps no longer than ``gap_s``.

    ``gid`` here must be 0..n_groups-1 (codes) so that the window arrays index by it.
    """
    if t_s.size < 2:
        return np.zeros(n_groups)
    step = gid[1:] == gid[:-1]
    dt = t_s[1:] - t_s[:-1]
    g = gid[1:]
    ok = step & (dt <= gap_s)
    lo = np.maximum(t_s[:-1], window_start_s[g])
    hi = np.minimum(t_s[1:], window_end_s[g])
    part = np.where(ok, np.clip(hi - lo, 0.0, None), 0.0)
    return np.bincount(g, weights=part, minlength=n_groups)


def max_gap_s(
    t_s: np.ndarray,
    gid: np.ndarray,
    n_groups: int,
    window_start_s: np.ndarray,
    window_end_s: np.ndarray,
) -> np.ndarray:
    """Longest span of each window without a fix: between fixes, or before the first / after the last."""
    out = window_end_s - window_start_s  # no fix at all: the whole window
    if t_s.size == 0:
        return out.astype(np.float64)
    starts, ends = group_bounds(gid)
    g = gid[starts]
    lead = np.clip(t_s[starts] - window_start_s[g], 0.0, None)
    trail = np.clip(window_end_s[g] - t_s[ends], 0.0, None)
    inner = np.zeros(starts.size)
    if t_s.size > 1:
        step = np.zeros(t_s.size)
        step[1:] = np.where(gid[1:] == gid[:-1], t_s[1:] - t_s[:-1], 0.0)
        inner = np.maximum.reduceat(step, starts)
    out = out.astype(np.float64)
    out[g] = np.maximum(np.maximum(lead, trail), inner)
    return out


def group_median(values: np.ndarray, gid: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of the non-NaN ``values`` of each group (NaN for a group with none), without groupby."""
    keep = ~np.isnan(values)
    v, g = values[keep], gid[keep]
    out = np.full(n_groups, np.nan)
    if v.size == 0:
        return out
    # Sorted by group, then by the value less its group's minimum: within a group, the order (ties included) that
    # group gets alone, so a batch of trajectories gets each one's median exactly as computed for it alone.
    low = np.full(n_groups, np.inf)
    np.minimum.at(low, g, v)
    order = np.lexsort((v - low[g], g))
    v, g = v[order], g[order]
    starts, ends = group_bounds(g)
    lo = starts + (ends - starts) // 2
    hi = starts + (ends - starts + 1) // 2
    out[g[starts]] = 0.5 * (v[lo] + v[hi])
    return out


def group_max(values: np.ndarray, gid: np.ndarray, n_groups: int) -> np.ndarray:
    """Max of the non-NaN ``values`` of each group (NaN for a group with none)."""
    out = np.full(n_groups, np.nan)
    keep = ~np.isnan(values)
    if not keep.any():
        return out
    np.fmax.at(out, gid[keep], values[keep])
    return out


# --- per-trajectory statistics ------------------------------------------------------------------


def group_stats(
    t_s: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    gid: np.ndarray,
    n_groups: int,
    window_start_s: np.ndarray,
    window_end_s: np.ndarray,
    *,
    gap_s: float,
    stop_min_duration_s: float,
    stop_max_diameter_m: float,
    steps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    stop_first_idx: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The TrajectoryStats columns for every group code 0..n_groups-1 (sorted, cleaned fixes).

    ``steps`` (:func:`step_arrays` of the same arrays) and ``stop_first_idx`` (the first positions of
    :func:`stop_ranges` with the same parameters) may be passed by a caller that needs them too, so that they are
    not computed twice.
    """
    distance_m, _, speed_kmh = steps if steps is not None else step_arrays(t_s, lon, lat, gid)
    step = same_as_prev(gid)
    step_speed = np.where(step, speed_kmh, np.nan)  # the first row's copied speed is not a step
    n_fixes = np.bincount(gid, minlength=n_groups).astype(np.int64)
    started = np.full(n_groups, np.nan)
    ended = np.full(n_groups, np.nan)
    starts, ends = group_bounds(gid)
    started[gid[starts]] = t_s[starts]
    ended[gid[ends]] = t_s[ends]
    window_s = window_end_s - window_start_s
    with np.errstate(invalid="ignore", divide="ignore"):
        cover = covered_s(t_s, gid, n_groups, window_start_s, window_end_s, gap_s=gap_s) / window_s
    first_idx = stop_first_idx
    if first_idx is None:
        first_idx, _ = stop_ranges(
            t_s, lon, lat, gid, min_duration_s=stop_min_duration_s, max_diameter_m=stop_max_diameter_m
        )
    return {
        "n_fixes": n_fixes,
        "started_s": started,
        "ended_s": ended,
        "length_m": np.bincount(gid, weights=distance_m, minlength=n_groups),
        "coverage": np.where(window_s > 0, cover, np.nan),
        "max_gap_s": max_gap_s(t_s, gid, n_groups, window_start_s, window_end_s),
        "max_speed_kmh": group_max(step_speed, gid, n_groups),
        "median_speed_kmh": group_median(step_speed, gid, n_groups),
        "n_stops": np.bincount(gid[first_idx], minlength=n_groups).astype(np.int64),
    }
