"""Cleaning: order, duplicates, single-fix spikes and jumps; teleport blocks survive."""

import numpy as np
import pandas as pd
import pytest

from trajectories import FixesSchemaError, clean
from trajectories.columns import LAT, T

from .helpers import T0_S, drive, fixes


def test_removes_a_500m_spike_at_30s_spacing_while_driving():
    t, east, north = drive(T0_S, 20 * 60, 30, 72.0)  # 600 m per step
    north = north.copy()
    north[20] = 500.0  # one fix thrown 500 m sideways
    out, report = clean(fixes(t, east, north))
    assert report.spikes == 1 and report.jumps == 0
    assert report.n_out == t.size - 1
    assert report.removed.index.tolist() == [20]
    assert report.removed["reason"].tolist() == ["spike"]
    assert out[T].is_monotonic_increasing


def test_removes_a_500m_spike_while_parked_and_keeps_noise():
    rng = np.random.default_rng(0)
    t = T0_S + 30.0 * np.arange(40)
    east, north = rng.normal(0, 8, 40), rng.normal(0, 8, 40)
    east[17] += 500.0
    _, report = clean(fixes(t, east, north))
    assert report.removed.index.tolist() == [17]
    assert report.n_out == 39


def test_keeps_a_sharp_corner_and_a_sudden_slow_down():
    # 72 km/h east for 10 min, then a right-angle turn north, then 20 km/h: nothing is an outlier.
    t1, e1, _ = drive(T0_S, 600, 30, 72.0)
    t2 = t1[-1] + 30.0 * np.arange(1, 21)
    n2 = (t2 - t1[-1]) * 20 / 3.6
    df = fixes(np.r_[t1, t2], np.r_[e1, np.full(t2.size, e1[-1])], np.r_[np.zeros(t1.size), n2])
    _, report = clean(df)
    assert report.n_out == len(df)


def test_duplicates_and_out_of_order():
    t = T0_S + np.array([0, 60, 60, 180, 120, 240, 240.4])
    df = fixes(t, np.array([0, 600, 600, 1800, 1200, 2400, 2401]))
    out, report = clean(df)
    assert report.duplicates == 2  # same second, and 0.4 s later
    assert report.out_of_order == 1  # 120 s arrived after 180 s
    assert (out[T] - out[T].iloc[0]).dt.total_seconds().tolist() == [0, 60, 120, 180, 240]
    assert sorted(report.removed["reason"].tolist()) == ["duplicate", "duplicate"]


def test_isolated_jump_is_removed_but_a_teleport_block_is_kept():
    t, east, north = drive(T0_S, 40 * 60, 60, 60.0)
    north = north.copy()
    north[10] = 20_000.0  # a single fix 20 km away: a jump (and a spike)
    north[25:30] = 15_000.0  # five fixes together 15 km away: a teleport, judged by the speed rule
    _, report = clean(fixes(t, east, north))
    assert report.removed.index.tolist() == [10]
    assert report.n_out == t.size - 1


def test_first_fix_jump_is_removed_at_app_spacing():
    t, east, north = drive(T0_S, 30 * 60, 180, 60.0)  # 3-min app spacing: no spike test, jumps only
    north = north.copy()
    north[0] = 30_000.0
    _, report = clean(fixes(t, east, north))
    assert report.jumps == 1 and report.removed.index.tolist() == [0]


def test_invalid_rows_and_empty_input():
    df = fixes(T0_S + np.array([0.0, 30.0, 60.0]), [0.0, 100.0, 200.0])
    df.loc[1, LAT] = np.nan
    _, report = clean(df)
    assert report.invalid == 1 and report.n_out == 2
    empty, rep0 = clean(df.iloc[:0])
    assert len(empty) == 0 and rep0.n_in == 0 and rep0.n_out == 0


def test_schema_errors_name_the_problem():
    with pytest.raises(FixesSchemaError, match="lon"):
        clean(pd.DataFrame({T: [], LAT: []}))
    naive = fixes([T0_S, T0_S + 30], [0, 1])
    naive[T] = naive[T].dt.tz_localize(None)
    with pytest.raises(FixesSchemaError, match="timezone-aware"):
        clean(naive)


def test_input_already_in_track_time_order_is_cleaned_as_by_the_sorting_path(monkeypatch):
    import importlib

    clean_module = importlib.import_module("trajectories.clean")  # the module: the package exports clean()
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 80, 40)
    gid = np.repeat(np.arange(sizes.size), sizes)
    t_us = np.concatenate([np.sort(rng.choice(10**6, n, replace=False)) * 1_000_000 for n in sizes]).astype(np.int64)
    t_us[5] = t_us[4]  # a duplicate time inside a track: ties are in order too
    lon = 117 + rng.normal(0, 0.01, gid.size)
    lat = 31 + rng.normal(0, 0.01, gid.size)
    lon[::17] += 2.0  # spikes and jumps for the outlier passes
    params = clean_module.params_from()
    assert clean_module._in_group_time_order(t_us, gid)
    fast = clean_module.clean_arrays(t_us, lon, lat, gid, params)
    monkeypatch.setattr(clean_module, "_in_group_time_order", lambda t, g: False)
    slow = clean_module.clean_arrays(t_us, lon, lat, gid, params)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)
    assert (fast[1] > 0).any()  # something was removed
    shuffled = np.array([1, 0, 2])
    assert not clean_module._in_group_time_order(t_us[shuffled], gid[shuffled])
