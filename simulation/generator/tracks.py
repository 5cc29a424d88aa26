"""Truck movement synthesis: curved routes, speed profiles with stops, and noisy sampled fixes.

A trip's movement is a polyline in a local metric frame (x east, y north, metres, origin at the
loading point) plus a piecewise-linear profile "distance along the polyline" over time. Sampling
a source (BeiDou every 30 s, the driver app every 1-5 min) interpolates that profile at the
source's times, so both sources describe the same truck; noise, gaps, duplicates and anomaly
effects are applied to the sampled arrays. All times are int64 seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

__all__ = [
    "Movement",
    "Samples",
    "build_movement",
    "local_to_lonlat",
    "lonlat_to_local",
    "route_polyline",
    "sample_movement",
]

_R_M = 6371008.8
_PRE_S = 2 * 3600 + 300  # sample from 2 h 5 min before despatch: the verifier's window is despatch − 2 h
_POST_S = 2 * 3600 + 300


def lonlat_to_local(lon, lat, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS-84 degrees to an equirectangular frame around (lon0, lat0), metres (x east, y north)."""
    x = np.radians(np.asarray(lon, dtype=np.float64) - lon0) * _R_M * np.cos(np.radians(lat0))
    y = np.radians(np.asarray(lat, dtype=np.float64) - lat0) * _R_M
    return x, y


def local_to_lonlat(x, y, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`lonlat_to_local`: metres around (lon0, lat0) to WGS-84 degrees."""
    lon = lon0 + np.degrees(np.asarray(x, dtype=np.float64) / (_R_M * np.cos(np.radians(lat0))))
    lat = lat0 + np.degrees(np.asarray(y, dtype=np.float64) / _R_M)
    return lon, lat


def _polyline_length(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.hypot(np.diff(x), np.diff(y)).sum())


def route_polyline(
    rng: np.random.Generator,
    ax: float,
    ay: float,
    bx: float,
    by: float,
    *,
    length_factor: float,
    n: int = 160,
) -> tuple[np.ndarray, np.ndarray]:
    """Return a road-like curve from A to B whose length is `length_factor` × |AB| (metres, local frame).

    The curve is the chord plus a perpendicular offset: a cubic-Bézier bow and a few small
    sinusoidal wiggles (zero at both ends); the offset's scale is found by bisection, which works
    because the length grows monotonically with it.

    Parameters
    ----------
    rng : numpy.random.Generator
    ax, ay, bx, by : float
        End points in metres.
    length_factor : float
        Target ratio of curve length to straight-line distance (≥ 1).
    n : int
        Number of vertices.

    Returns
    -------
    tuple of numpy.ndarray
        x and y of the vertices, metres; first = A, last = B.
    """
    dx, dy = bx - ax, by - ay
    chord_m = float(np.hypot(dx, dy))
    tau = np.linspace(0.0, 1.0, n)
    if chord_m < 1.0:
        return ax + dx * tau, ay + dy * tau
    ux, uy = dx / chord_m, dy / chord_m
    nx, ny = -uy, ux
    a1, a2 = rng.uniform(-1.0, 1.0, 2)
    bow = 3 * (1 - tau) ** 2 * tau * a1 + 3 * (1 - tau) * tau**2 * a2
    k = np.arange(2, 7)
    coef = rng.normal(0.0, 0.08, k.size) / k
    wiggle = (coef[:, None] * np.sin(np.pi * k[:, None] * tau[None, :])).sum(axis=0)
    shape = (bow + wiggle) * chord_m
    along = tau * chord_m
    target = max(length_factor, 1.0) * chord_m
    lo, hi = 0.0, 1.0
    while _polyline_length(along, hi * shape) < target and hi < 1e4:
        hi *= 2.0
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if _polyline_length(along, mid * shape) < target:
            lo = mid
        else:
            hi = mid
    off = 0.5 * (lo + hi) * shape
    return ax + along * ux + off * nx, ay + along * uy + off * ny


@dataclass
class Movement:
    """One truck trip: a polyline (local metres around `lon0`, `lat0`) and distance over time.

    Attributes
    ----------
    lon0, lat0 : float
        Origin of the local frame (WGS-84 degrees).
    path_x, path_y, path_s : numpy.ndarray
        Vertices (m) and cumulative distance along the path (m).
    prof_t, prof_s : numpy.ndarray
        Profile knots: epoch seconds and distance along the path at those instants.
    despatch_s, receipt_s : int
        Despatch and receipt instants (epoch seconds).
    start_s, end_s : int
        Sampling window: despatch − 2 h 5 min … receipt + 2 h 5 min.
    main_start_m : float
        Path distance where the loaded run starts (after the approach from the depot).
    """

    lon0: float
    lat0: float
    path_x: np.ndarray
    path_y: np.ndarray
    path_s: np.ndarray
    prof_t: np.ndarray
    prof_s: np.ndarray
    despatch_s: int
    receipt_s: int
    start_s: int
    end_s: int
    main_start_m: float

    @property
    def length_m(self) -> float:
        """Length of the loaded run (loading point → unloading point), metres."""
        return float(self.path_s[-1] - self.main_start_m)

    def shifted(self, shift_s: int) -> Movement:
        """Return the same movement `shift_s` seconds later (used to forge a copied track)."""
        return Movement(
            self.lon0,
            self.lat0,
            self.path_x,
            self.path_y,
            self.path_s,
            self.prof_t + shift_s,
            self.prof_s,
            self.despatch_s + shift_s,
            self.receipt_s + shift_s,
            self.start_s + shift_s,
            self.end_s + shift_s,
            self.main_start_m,
        )


def _speed_knots(rng: np.random.Generator, length_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Knot times (s from departure) and distances (m) of a loaded run: 40-88 km/h, slow-downs, rests."""
    mean_kmh = rng.uniform(55.0, 75.0)
    n = int(length_m / (40 / 3.6 * 120)) + 8
    dt_s = rng.integers(120, 301, n).astype(np.float64)
    shocks = rng.normal(0.0, 7.0, n)
    v_kmh = lfilter([1.0], [1.0, -0.8], shocks) + mean_kmh
    slow = rng.random(n) < 0.03  # junctions, tolls, congestion
    v_kmh = np.where(slow, rng.uniform(10.0, 30.0, n), v_kmh)
    v_kmh[:2] = np.minimum(v_kmh[:2], rng.uniform(20.0, 40.0, 2))  # leaving the yard on town roads
    v_kmh = np.clip(v_kmh, 10.0, 88.0)
    s = np.concatenate([[0.0], np.cumsum(v_kmh / 3.6 * dt_s)])
    t = np.concatenate([[0.0], np.cumsum(dt_s)])
    k = int(np.searchsorted(s, length_m))
    # Cut the last knot so the run ends exactly at the unloading point, keeping that knot's speed.
    frac = (length_m - s[k - 1]) / (s[k] - s[k - 1])
    t = np.concatenate([t[:k], [t[k - 1] + frac * (t[k] - t[k - 1])]])
    s = np.concatenate([s[:k], [length_m]])
    drive_s = t[-1]
    if drive_s > 2.5 * 3600:
        # A 15-40 min rest every 2.5-4 h of driving (truck drivers' 4-hour rule).
        rest_at_s = np.cumsum(rng.uniform(2.5, 4.0, 8) * 3600)
        rest_at_s = rest_at_s[rest_at_s < drive_s - 1800]
        for at_s in rest_at_s[::-1]:
            j = int(np.searchsorted(t, at_s))
            pause_s = float(rng.uniform(15, 40) * 60)
            t = np.concatenate([t[:j], [t[j - 1] + pause_s], t[j:] + pause_s])
            s = np.concatenate([s[:j], [s[j - 1]], s[j:]])
    return t, s


def build_movement(
    rng: np.random.Generator,
    *,
    depot_lonlat: tuple[float, float],
    load_lonlat: tuple[float, float],
    unload_lonlat: tuple[float, float],
    despatch_s: int,
    length_factor: float,
) -> Movement:
    """Plan one trip: approach from a depot, loading dwell, loaded run, unloading dwell.

    Parameters
    ----------
    rng : numpy.random.Generator
    depot_lonlat, load_lonlat, unload_lonlat : tuple of float
        WGS-84 (lon, lat) of where the truck waits before the trip, loads and unloads.
    despatch_s : int
        Despatch instant, epoch seconds; the truck arrives 30-90 min earlier.
    length_factor : float
        Route length over straight-line distance (1.1-1.4 for ordinary trips).

    Returns
    -------
    Movement
        With the receipt instant derived from the route length and speeds, plus a 20-60 min
        unloading dwell.
    """
    lon0, lat0 = load_lonlat
    dx, dy = lonlat_to_local(depot_lonlat[0], depot_lonlat[1], lon0, lat0)
    ux, uy = lonlat_to_local(unload_lonlat[0], unload_lonlat[1], lon0, lat0)
    app_x, app_y = route_polyline(rng, float(dx), float(dy), 0.0, 0.0, length_factor=1.15, n=12)
    main_x, main_y = route_polyline(rng, 0.0, 0.0, float(ux), float(uy), length_factor=length_factor)
    path_x = np.concatenate([app_x, main_x[1:]])
    path_y = np.concatenate([app_y, main_y[1:]])
    path_s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(path_x), np.diff(path_y)))])
    approach_m = float(path_s[app_x.size - 1])
    run_m = float(path_s[-1] - approach_m)

    dwell_load_s = int(rng.integers(30, 91)) * 60
    arrive_load_s = despatch_s - dwell_load_s
    leave_depot_s = arrive_load_s - int(approach_m / (rng.uniform(25.0, 40.0) / 3.6))
    knot_t, knot_s = _speed_knots(rng, run_m)
    arrive_unload_s = despatch_s + int(round(knot_t[-1]))
    receipt_s = arrive_unload_s + int(rng.integers(20, 61)) * 60
    start_s, end_s = despatch_s - _PRE_S, receipt_s + _POST_S
    prof_t = np.concatenate(
        [
            [min(start_s, leave_depot_s) - 3600, leave_depot_s, arrive_load_s],
            despatch_s + knot_t,
            [end_s + 3600],
        ]
    ).astype(np.float64)
    prof_s = np.concatenate([[0.0, 0.0, approach_m], approach_m + knot_s, [path_s[-1]]])
    prof_t[-2] = arrive_unload_s
    return Movement(
        float(lon0),
        float(lat0),
        path_x,
        path_y,
        path_s,
        prof_t,
        prof_s,
        int(despatch_s),
        int(receipt_s),
        int(start_s),
        int(end_s),
        approach_m,
    )


@dataclass
class Samples:
    """Fixes of one source for one trip (parallel arrays, WGS-84)."""

    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    speed_kmh: np.ndarray
    direction: np.ndarray
    altitude: np.ndarray
    accuracy_m: np.ndarray


def _position(mov: Movement, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Noise-free x, y (m), speed (km/h) and heading (deg from north) of the truck at times `t`."""
    s = np.interp(t, mov.prof_t, mov.prof_s)
    x = np.interp(s, mov.path_s, mov.path_x)
    y = np.interp(s, mov.path_s, mov.path_y)
    k = np.clip(np.searchsorted(mov.prof_t, t, side="right"), 1, mov.prof_t.size - 1)
    v_kmh = (mov.prof_s[k] - mov.prof_s[k - 1]) / np.maximum(mov.prof_t[k] - mov.prof_t[k - 1], 1e-9) * 3.6
    j = np.clip(np.searchsorted(mov.path_s, s, side="right"), 1, mov.path_s.size - 1)
    heading = (
        np.degrees(np.arctan2(mov.path_x[j] - mov.path_x[j - 1], mov.path_y[j] - mov.path_y[j - 1])) % 360.0
    )
    return x, y, v_kmh, heading


def _displacement(t: np.ndarray, effects: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Sum of anomaly displacements (m) at times `t`: plateaus between t0 and t1 with linear ramps."""
    ox = np.zeros(t.size)
    oy = np.zeros(t.size)
    for eff in effects:
        t0, t1, ramp = eff["t0"], eff["t1"], max(eff.get("ramp_s", 0), 1)
        w = (
            np.clip(np.minimum(t - t0 + ramp, t1 - t + ramp) / ramp, 0.0, 1.0)
            if eff.get("ramp_s")
            else (((t >= t0) & (t <= t1)).astype(np.float64))
        )
        ox += w * eff["dx_m"]
        oy += w * eff["dy_m"]
    return ox, oy


def sample_movement(
    rng: np.random.Generator,
    mov: Movement,
    *,
    source: str,
    interval_s: tuple[int, int] | int,
    noise_m: float,
    outlier_rate: float,
    gap_prob: float,
    duplicate_rate: float,
    drop: list[tuple[int, int]] = (),
    shifts: list[dict] = (),
    window: tuple[int, int] | None = None,
    with_ends: bool = False,
) -> Samples:
    """Sample a movement as one source would report it.

    Parameters
    ----------
    rng : numpy.random.Generator
    mov : Movement
    source : {"beidou", "app"}
        Only changes the altitude/accuracy style.
    interval_s : int or (int, int)
        Fixed interval, or the range of a per-trip base interval (each step varies ±20 %).
    noise_m : float
        Standard deviation of the GPS error per axis, metres.
    outlier_rate : float
        Share of fixes thrown 100-500 m off.
    gap_prob : float
        Probability of one 5-25 min signal loss in the trip.
    duplicate_rate : float
        Share of fixes reported twice.
    drop : list of (t0, t1)
        Intervals with no fixes at all (low-coverage anomaly).
    shifts : list of dict
        Displacements {t0, t1, dx_m, dy_m, ramp_s} (teleport, source conflict).
    window : (int, int), optional
        Sampling window; the movement's own window by default.
    with_ends : bool
        Also report a fix at both ends of the window (a driver app's "start" and "stop").

    Returns
    -------
    Samples
        Sorted by time except for the duplicates, which follow their original.
    """
    start_s, end_s = window if window is not None else (mov.start_s, mov.end_s)
    if isinstance(interval_s, int):
        t = np.arange(start_s + int(rng.integers(0, interval_s)), end_s, interval_s, dtype=np.int64)
    else:
        base = rng.uniform(*interval_s)
        n = int((end_s - start_s) / (0.8 * base)) + 2
        steps = np.maximum(np.round(base * rng.uniform(0.8, 1.2, n)), 1).astype(np.int64)
        t = start_s + np.cumsum(steps)
        t = t[t < end_s]
    if with_ends:
        t = np.unique(np.concatenate([[start_s], t, [end_s]]).astype(np.int64))
    keep = np.ones(t.size, dtype=bool)
    if rng.random() < gap_prob and t.size > 10:
        # A tunnel or a dead zone: fix to fix, the hole stays under 30 min (RULES.md §2: not a coverage gap).
        step_max = interval_s if isinstance(interval_s, int) else 1.2 * base
        gap_s = int(min(int(rng.integers(5, 26)) * 60, 1740 - 2 * step_max))
        g0 = int(rng.integers(start_s, max(end_s - gap_s, start_s + 1)))
        if gap_s > 0:
            keep &= ~((t >= g0) & (t < g0 + gap_s))
    for d0, d1 in drop:
        keep &= ~((t >= d0) & (t < d1))
    t = t[keep]
    x, y, v_kmh, heading = _position(mov, t.astype(np.float64))
    if shifts:
        ox, oy = _displacement(t.astype(np.float64), list(shifts))
        x, y = x + ox, y + oy
    x = x + rng.normal(0.0, noise_m, t.size)
    y = y + rng.normal(0.0, noise_m, t.size)
    out = rng.random(t.size) < outlier_rate
    out[1:] &= ~out[:-1]  # isolated outliers only: two in a row would read as a real detour
    if out.any():
        r = rng.uniform(100.0, 500.0, int(out.sum()))
        a = rng.uniform(0.0, 2 * np.pi, r.size)
        x[out] += r * np.sin(a)
        y[out] += r * np.cos(a)
    moving = v_kmh > 0.5
    speed = np.where(moving, np.maximum(v_kmh + rng.normal(0.0, 2.0, t.size), 1.0), 0.0)
    if source == "beidou":
        altitude = 30.0 + 15.0 * np.sin(x / 9000.0) + 10.0 * np.cos(y / 7000.0) + rng.normal(0, 2.0, t.size)
        accuracy = np.full(t.size, np.nan)
    else:
        altitude = 30.0 + 15.0 * np.sin(x / 9000.0) + 10.0 * np.cos(y / 7000.0) + rng.normal(0, 8.0, t.size)
        accuracy = np.round(rng.uniform(5.0, 30.0, t.size), 1)
    lon, lat = local_to_lonlat(x, y, mov.lon0, mov.lat0)
    samples = Samples(t, lon, lat, speed, heading, altitude, accuracy)
    dup = np.flatnonzero(rng.random(t.size) < duplicate_rate)
    if dup.size:
        order = np.sort(np.concatenate([np.arange(t.size), dup]), kind="stable")
        samples = Samples(*(getattr(samples, f)[order] for f in Samples.__dataclass_fields__))
    return samples
