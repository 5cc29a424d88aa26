"""build_many() gives, for every trajectory, exactly what build() gives for it alone (the back-fill's batch path)."""

import numpy as np
import pandas as pd
import pytest

from trajectories import build
from trajectories.build import build_many
from trajectories.verify import Place, VerificationInput, verify, verify_many

from .generated import generated_tracks
from .helpers import T0_S, fixes, ts


def _same(a, b) -> None:
    assert a.stats.to_dict() == b.stats.to_dict()  # NaN as None: NaN != NaN
    assert a.clean_report.to_dict() == b.clean_report.to_dict()
    assert np.array_equal(a.clean_report.reasons, b.clean_report.reasons)
    assert a.columns.keys() == b.columns.keys()
    for name in a.columns:
        assert np.array_equal(a.columns[name], b.columns[name], equal_nan=True), name
    assert a.stop_table.keys() == b.stop_table.keys()
    for name in a.stop_table:
        assert np.array_equal(a.stop_table[name], b.stop_table[name]), name
    assert np.array_equal(a.gap_steps, b.gap_steps)
    assert np.array_equal(a.h3_path, b.h3_path)
    assert np.array_equal(a.keep, b.keep)
    assert (a.window_start, a.window_end) == (b.window_start, b.window_end)
    pd.testing.assert_frame_equal(a.fixes, b.fixes)
    pd.testing.assert_frame_equal(a.clean_report.removed, b.clean_report.removed)


def test_build_many_equals_build_per_trajectory():
    tracks = generated_tracks(5, seed=11, outlier_rate=0.01)
    one = fixes([T0_S], [0.0])
    empty = fixes([], [])
    frames = [df.sample(frac=1.0, random_state=k) for k, (df, _) in enumerate(tracks)]  # arrival order shuffled
    windows = [w for _, w in tracks]
    # a trajectory without fixes, one with a single fix, and one whose fixes all fall outside its window among them
    gap = fixes([T0_S, T0_S + 60, T0_S + 4000, T0_S + 4060], [0.0, 500.0, 9000.0, 9500.0])  # a 65 min gap
    frames[2:2] = [empty, one, tracks[0][0], gap]
    windows[2:2] = [(ts(T0_S), ts(T0_S + 600)), (ts(T0_S - 60), ts(T0_S + 60)), (ts(0), ts(600)),
                    (ts(T0_S), ts(T0_S + 4060))]
    many = build_many(frames, windows)
    assert len(many) == len(frames)
    for df, (ws, we), b in zip(frames, windows, many):
        _same(b, build(df, window_start=ws, window_end=we))
    assert [b.stats.n_fixes for b in many[2:5]] == [0, 1, 0]
    assert sum(b.stats.n_stops for b in many) > 0 and sum(b.gap_steps.size for b in many) > 0
    assert sum(b.clean_report.spikes + b.clean_report.jumps for b in many) > 0  # cleaning was exercised


def test_build_many_checks_its_arguments():
    assert build_many([], []) == []
    with pytest.raises(ValueError, match="windows"):
        build_many([fixes([T0_S], [0.0])], [])


def test_verify_many_equals_verify_per_waybill():
    tracks = generated_tracks(4, seed=5)
    inputs = []
    for k, (df, (ws, we)) in enumerate(tracks):
        t = df["t"].sort_values()
        start = Place(float(df["lon"].iloc[0]), float(df["lat"].iloc[0]), 0, True)
        end = Place(float(df["lon"].iloc[-1]), float(df["lat"].iloc[-1]), 0, True)
        app = df.iloc[::7].reset_index(drop=True) if k % 2 else None  # some with both sources
        inputs.append(VerificationInput(ws + pd.Timedelta(hours=2), we - pd.Timedelta(hours=2), start, end,
                                        app=app, beidou=df, other_periods=((t.iloc[0], t.iloc[5]),)))
    many = verify_many(inputs, track_features=False)
    for inp, v in zip(inputs, many):
        alone = verify(inp, track_features=False)
        assert (v.verdict, v.rules, v.evidence, v.stats) == (alone.verdict, alone.rules, alone.evidence, alone.stats)
        assert v.tracks.keys() == alone.tracks.keys()
