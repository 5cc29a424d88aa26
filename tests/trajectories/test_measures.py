"""Measures on hand-built tracks with worked answers."""

import numpy as np
import pandas as pd
import pytest

from trajectories import add_speed, coverage, gaps, h3_path, length_m, stops
from trajectories.columns import DISTANCE_M, DURATION_S, SPEED_KMH

from .helpers import T0_S, drive, fixes, ts


def test_add_speed_steps_and_first_row_convention():
    # 1000 m in 60 s (60 km/h), then 500 m in 60 s (30 km/h).
    df = add_speed(fixes(T0_S + np.array([0.0, 60.0, 120.0]), [0.0, 1000.0, 1500.0]))
    assert df[DISTANCE_M].round(6).tolist() == [0.0, 1000.0, 500.0]
    assert df[DURATION_S].tolist() == [0.0, 60.0, 60.0]
    assert df[SPEED_KMH].round(6).tolist() == [60.0, 60.0, 30.0]  # first row copies the second
    single = add_speed(fixes([T0_S], [0.0]))
    assert np.isnan(single[SPEED_KMH].iloc[0]) and single[DISTANCE_M].iloc[0] == 0.0


def test_length_m():
    assert length_m(fixes(T0_S + np.array([0.0, 60.0, 120.0]), [0.0, 1000.0, 0.0])) == pytest.approx(2000.0)
    assert length_m(fixes([T0_S], [0.0])) == 0.0


def test_gaps_and_coverage_worked_example():
    # Fixes at 0, 10, 20 min, then 60, 70 min; window 0-100 min; gap threshold 30 min.
    t = T0_S + 60.0 * np.array([0, 10, 20, 60, 70])
    df = fixes(t, np.zeros(5))
    g = gaps(df, gap_s=1800)
    assert g["start"].tolist() == [ts(T0_S + 1200)] and g["end"].tolist() == [ts(T0_S + 3600)]
    assert g["duration_s"].tolist() == [2400.0]
    # Covered: 0-20 min and 60-70 min = 30 of 100 min.
    assert coverage(df, ts(T0_S), ts(T0_S + 6000), gap_s=1800) == pytest.approx(0.30)
    # Part of the window before the first fix is uncovered: window from -20 min gives 30/120.
    assert coverage(df, ts(T0_S - 1200), ts(T0_S + 6000), gap_s=1800) == pytest.approx(0.25)
    # A step crossing the window edge counts only inside: window 5-65 min covers 5-20 and 60-65.
    assert coverage(df, ts(T0_S + 300), ts(T0_S + 3900), gap_s=1800) == pytest.approx(20 / 60)


def test_coverage_edges():
    one = fixes([T0_S], [0.0])
    assert coverage(one, ts(T0_S - 60), ts(T0_S + 60)) == 0.0
    assert np.isnan(coverage(one, ts(T0_S), ts(T0_S)))
    with pytest.raises(ValueError, match="timezone-aware"):
        coverage(one, pd.Timestamp("2025-03-01"), ts(T0_S))


def test_stops_worked_example():
    # Drive 10 min at 60 km/h, park 15 min (fixes within 20 m), drive again; fixes every 60 s.
    t1, e1, _ = drive(T0_S, 600, 60, 60.0)  # 0..600 s, east 0..10 km
    t2 = T0_S + 600 + 60.0 * np.arange(1, 16)  # 660..1500 s parked
    e2 = e1[-1] + 10.0 + np.tile([0.0, 20.0, 10.0], 5)
    t3, e3, _ = drive(T0_S + 1560, 600, 60, 60.0, east0_m=e2[-1] + 1000.0)
    df = fixes(np.r_[t1, t2, t3], np.r_[e1, e2, e3])
    s = stops(df, min_duration_s=600, max_diameter_m=200)
    assert len(s) == 1
    # The arrival fix (600 s, 10-30 m from the parked ones) is part of the stop.
    assert s["start"].iloc[0] == ts(T0_S + 600) and s["end"].iloc[0] == ts(T0_S + 1500)
    assert s["duration_s"].iloc[0] == 900.0 and s["n"].iloc[0] == 16
    assert s["lon"].iloc[0] == pytest.approx(df["lon"].iloc[10:26].median())
    # Shorter than min_duration: no stop.
    assert stops(df, min_duration_s=901, max_diameter_m=200).empty


def test_stops_back_to_back_and_at_the_end():
    t = T0_S + 60.0 * np.arange(40)
    east = np.r_[np.zeros(20), np.full(20, 5000.0)]  # parked 19 min at A, jump, parked 19 min at B
    s = stops(fixes(t, east), min_duration_s=600, max_diameter_m=100)
    assert s["n"].tolist() == [20, 20]
    assert s["end"].iloc[1] == ts(T0_S + 39 * 60)


def test_h3_path_collapses_repeats():
    df = fixes(T0_S + np.arange(4) * 60.0, [0.0, 5.0, 3000.0, 3005.0])
    path = h3_path(df, res=8)
    assert path.dtype == np.int64 and path.size == 2 and path[0] != path[1]
    assert h3_path(df.iloc[:0]).size == 0
