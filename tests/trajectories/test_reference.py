"""The vectorised kernels agree with MovingPandas on generated tracks."""

import numpy as np
import pytest

pytest.importorskip("movingpandas")

# MovingPandas 0.23 under pandas 3 warns about its own .at writes and dropped time zones.
pytestmark = pytest.mark.filterwarnings("ignore::Warning")

from trajectories import add_speed, clean, gaps, length_m, stops
from trajectories.columns import DISTANCE_M, SPEED_KMH
from trajectories.reference import mpd_gaps, mpd_length_m, mpd_speed, mpd_stops

from .generated import generated_tracks

# Haversine on the mean sphere vs MovingPandas' geodesic on the ellipsoid: < 0.5 % apart.
REL = 5e-3


@pytest.fixture(scope="module")
def tracks():
    # 60 s sampling keeps MovingPandas' row-wise loops to a few seconds for the whole module.
    return [clean(df)[0] for df, _ in generated_tracks(3, interval_s=60)]


def test_speed_and_distance_match(tracks):
    for df in tracks:
        ours = add_speed(df)
        ref = mpd_speed(df)
        np.testing.assert_allclose(ours[DISTANCE_M], ref["distance_m"], rtol=REL, atol=0.05)
        np.testing.assert_allclose(ours[SPEED_KMH], ref["speed_kmh"], rtol=REL, atol=0.01)


def test_length_matches(tracks):
    for df in tracks:
        assert length_m(df) == pytest.approx(mpd_length_m(df), rel=REL)


def test_gaps_match_observation_gap_splitter(tracks):
    for df in tracks:
        ours = gaps(df, gap_s=240)  # 60 s sampling: the generator's 5-25 min losses are gaps
        ref = mpd_gaps(df, gap_s=240)
        assert ours["start"].tolist() == ref["start"].tolist()
        assert ours["end"].tolist() == ref["end"].tolist()


def test_stops_match_trajectory_stop_detector(tracks):
    n_compared = 0
    for df in tracks:
        ours = stops(df, min_duration_s=600, max_diameter_m=200)
        ref = mpd_stops(df, min_duration_s=600, max_diameter_m=200)
        assert len(ours) == len(ref)
        # Same stops to the fix (the box and the rotated-rectangle diagonals could in principle
        # admit an arrival fix differently; on these tracks they do not).
        assert ours["start"].tolist() == ref["start"].tolist()
        assert ours["end"].tolist() == ref["end"].tolist()
        np.testing.assert_allclose(ours["lon"], ref["lon"], atol=2e-4)
        np.testing.assert_allclose(ours["lat"], ref["lat"], atol=2e-4)
        n_compared += len(ours)
    assert n_compared >= 3  # loading and unloading dwells at least
