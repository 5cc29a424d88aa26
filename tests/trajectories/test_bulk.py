"""bulk() gives, for every trajectory, what build() gives for it alone."""

import math

import numpy as np
import pandas as pd
import pytest

from trajectories import build, bulk
from trajectories.columns import LAT, TRAJ_ID

from .generated import generated_tracks, stacked
from .helpers import T0_S, fixes, ts


@pytest.fixture(scope="module")
def tracks():
    return generated_tracks(6, seed=3, outlier_rate=0.01)


def test_bulk_equals_build_per_trajectory(tracks):
    allfix, windows = stacked(tracks)
    out = bulk(allfix, windows=windows)
    assert out.index.tolist() == [f"w{k:03d}" for k in range(len(tracks))]
    for k, (_, (ws, we)) in enumerate(tracks):
        df = allfix[allfix[TRAJ_ID] == f"w{k:03d}"]  # same shuffled arrival order as bulk saw
        b = build(df, window_start=ws, window_end=we)
        row = out.loc[f"w{k:03d}"]
        s = b.stats
        assert row["n_fixes"] == s.n_fixes > 0
        assert row["started_at"] == s.started_at and row["ended_at"] == s.ended_at
        for name in ("length_m", "coverage", "max_gap_s", "max_speed_kmh", "median_speed_kmh"):
            assert row[name] == pytest.approx(getattr(s, name), rel=1e-12), name
        assert row["n_stops"] == s.n_stops == len(b.stops)
        rep = b.clean_report
        assert (row["n_in"], row["duplicates"], row["spikes"], row["jumps"], row["out_of_order"]) == (
            rep.n_in,
            rep.duplicates,
            rep.spikes,
            rep.jumps,
            rep.out_of_order,
        )
    assert (
        out["spikes"].sum() > 0 and out["duplicates"].sum() > 0 and out["out_of_order"].sum() > 0
    )  # the comparison exercised cleaning


def test_bulk_handles_tiny_and_empty_trajectories():
    one = fixes([T0_S], [0.0]).assign(**{TRAJ_ID: "one"})
    two = fixes([T0_S, T0_S + 60], [0.0, 1000.0]).assign(**{TRAJ_ID: "two"})
    bad = fixes([T0_S], [0.0]).assign(**{TRAJ_ID: "bad"})
    bad[LAT] = np.nan
    out = bulk(pd.concat([one, two, bad], ignore_index=True))
    assert out.loc["one", "n_fixes"] == 1 and math.isnan(out.loc["one", "max_speed_kmh"])
    assert out.loc["two", "max_speed_kmh"] == pytest.approx(60.0)
    assert out.loc["bad", "n_fixes"] == 0 and out.loc["bad", "invalid"] == 1
    assert pd.isna(out.loc["bad", "started_at"])


def test_windows_must_cover_every_trajectory():
    df = fixes([T0_S, T0_S + 60], [0.0, 1000.0]).assign(**{TRAJ_ID: "a"})
    windows = pd.DataFrame({TRAJ_ID: ["b"], "window_start": [ts(T0_S)], "window_end": [ts(T0_S + 60)]})
    with pytest.raises(ValueError, match="windows lack"):
        bulk(df, windows=windows)
