"""TRACK_DUPLICATED picks the copy (RULES.md §1): the item reported later; its source only when its own BeiDou
contradicts it."""

import numpy as np
import pandas as pd

from trajectories.crosscheck import _best_shift, _pick_copy


def _track(t0_s: float, lon0: float = 117.0, n: int = 40, step_s: float = 120.0) -> pd.DataFrame:
    t = t0_s + np.arange(n) * step_s
    return pd.DataFrame({"t_s": t, "lon": lon0 + np.linspace(0, 0.5, n), "lat": 31.0 + np.zeros(n)})


def test_the_later_reported_is_the_copy_and_the_source_is_not_flagged():
    app = {1: _track(0.0), 2: _track(3 * 86400.0)}
    reported = pd.Series({1: pd.Timestamp("2026-10-01", tz="UTC"), 2: pd.Timestamp("2026-10-04", tz="UTC")})
    assert _pick_copy(1, 2, app, {}, reported) == [2]
    assert _pick_copy(2, 1, app, {}, reported) == [2]  # whatever the pair's order


def test_the_source_is_flagged_too_when_its_own_beidou_contradicts_it():
    app = {1: _track(0.0), 2: _track(3 * 86400.0)}
    beidou = {1: _track(0.0, lon0=118.0, step_s=30.0, n=160)}  # 100 km away all the time
    reported = pd.Series({1: pd.Timestamp("2026-10-01", tz="UTC"), 2: pd.Timestamp("2026-10-04", tz="UTC")})
    assert sorted(_pick_copy(1, 2, app, beidou, reported)) == [1, 2]


def test_a_copy_shifted_by_days_is_aligned_from_the_estimate():
    src = _track(0.0)
    rng = np.random.default_rng(1)
    copy = src.iloc[rng.random(len(src)) < 0.8].copy()
    copy["t_s"] += 2 * 86400 + 1234
    m = _best_shift(copy, src, max_shift_s=1800, match_m=50, max_step_s=900, around_s=2 * 86400 + 900)
    assert m is not None and abs(m["shift_s"] - (2 * 86400 + 1234)) <= 10 and m["matched"] == 1.0
