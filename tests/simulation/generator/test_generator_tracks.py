"""Movement synthesis kernels: route length, timing, sampling effects, wire time format."""

from __future__ import annotations

import numpy as np
import pytest

from geo.distance import haversine_m
from simulation.generator.timefmt import wire_datetimes
from simulation.generator.tracks import (
    build_movement,
    local_to_lonlat,
    lonlat_to_local,
    route_polyline,
    sample_movement,
)

HEFEI = (117.2272, 31.8206)
WUHU = (118.3763, 31.3263)
DESPATCH_S = 1_790_000_000  # 2026-09-21 22:13:20 Beijing


def _rng(seed: int = 3) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


@pytest.mark.parametrize("factor", [1.1, 1.25, 1.4, 3.5])
def test_route_polyline_has_the_requested_length_and_ends(factor):
    x, y = route_polyline(_rng(), 0.0, 0.0, 30000.0, 40000.0, length_factor=factor)
    assert (x[0], y[0]) == (0.0, 0.0)
    assert x[-1] == pytest.approx(30000.0) and y[-1] == pytest.approx(40000.0)
    length = np.hypot(np.diff(x), np.diff(y)).sum()
    assert length / 50000.0 == pytest.approx(factor, rel=1e-3)


def test_local_frame_round_trip_is_exact_to_the_millimetre():
    x, y = lonlat_to_local([118.0, 117.5], [31.0, 32.0], *HEFEI)
    lon, lat = local_to_lonlat(x, y, *HEFEI)
    assert np.allclose(lon, [118.0, 117.5], atol=1e-9) and np.allclose(lat, [31.0, 32.0], atol=1e-9)


def test_movement_is_at_the_loading_point_at_despatch_and_at_the_unloading_point_at_receipt():
    rng = _rng()
    mov = build_movement(
        rng,
        depot_lonlat=(117.20, 31.80),
        load_lonlat=HEFEI,
        unload_lonlat=WUHU,
        despatch_s=DESPATCH_S,
        length_factor=1.25,
    )
    s = sample_movement(
        rng,
        mov,
        source="beidou",
        interval_s=30,
        noise_m=0.0,
        outlier_rate=0.0,
        gap_prob=0.0,
        duplicate_rate=0.0,
    )
    at_despatch = np.searchsorted(s.t, mov.despatch_s, side="right") - 1  # last fix before leaving
    at_receipt = np.argmin(np.abs(s.t - mov.receipt_s))
    assert haversine_m(s.lon[at_despatch], s.lat[at_despatch], *HEFEI) < 1.0
    assert haversine_m(s.lon[at_receipt], s.lat[at_receipt], *WUHU) < 1.0
    # ~125 km of road at 40-88 km/h (plus slow stretches) and a 20-60 min unloading dwell.
    hours = (mov.receipt_s - mov.despatch_s) / 3600
    assert mov.length_m / 1000 / 88 + 1 / 3 <= hours <= mov.length_m / 1000 / 35 + 1
    speed = haversine_m(s.lon[:-1], s.lat[:-1], s.lon[1:], s.lat[1:]) / np.diff(s.t) * 3.6
    assert speed.max() <= 88.5
    # The window covers despatch − 2 h … receipt + 2 h with 30 s fixes.
    assert s.t[0] <= mov.despatch_s - 7200 and s.t[-1] >= mov.receipt_s + 7200
    assert set(np.diff(s.t).tolist()) == {30}


def test_sampling_drops_and_shifts_exactly_the_requested_intervals():
    rng = _rng(5)
    mov = build_movement(
        rng,
        depot_lonlat=(117.20, 31.80),
        load_lonlat=HEFEI,
        unload_lonlat=WUHU,
        despatch_s=DESPATCH_S,
        length_factor=1.2,
    )
    t0 = mov.despatch_s + 1800
    common = dict(
        source="app", interval_s=60, noise_m=0.0, outlier_rate=0.0, gap_prob=0.0, duplicate_rate=0.0
    )
    plain = sample_movement(_rng(9), mov, **common)
    dropped = sample_movement(_rng(9), mov, drop=[(t0, t0 + 3600)], **common)
    assert not ((dropped.t >= t0) & (dropped.t < t0 + 3600)).any()
    assert plain.t.size - dropped.t.size == 60
    shifted = sample_movement(
        _rng(9), mov, shifts=[{"t0": t0, "t1": t0 + 600, "dx_m": 10000.0, "dy_m": 0.0}], **common
    )
    moved = haversine_m(plain.lon, plain.lat, shifted.lon, shifted.lat)
    inside = (plain.t >= t0) & (plain.t <= t0 + 600)
    assert np.allclose(moved[inside], 10000.0, rtol=5e-3) and np.allclose(moved[~inside], 0.0, atol=1e-6)


def test_wire_datetimes_are_beijing_time():
    assert wire_datetimes([0, 1_790_000_000, 1_790_000_000 + 86399]).tolist() == [
        "19700101080000",
        "20260921221320",
        "20260922221319",
    ]
