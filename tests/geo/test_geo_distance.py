"""Tests for geo.distance against hand-worked values."""

import math

import numpy as np
import pytest

from geo.distance import EARTH_RADIUS_M, haversine_m, path_length_m

ONE_DEGREE_M = EARTH_RADIUS_M * math.pi / 180.0  # 111,195.08 m


def test_one_degree_of_latitude():
    assert float(haversine_m(117.0, 31.0, 117.0, 32.0)) == pytest.approx(111_195.08, abs=0.01)


def test_one_degree_of_longitude_shrinks_with_cos_latitude():
    # At 60 N a degree of longitude is the great circle through two points; close to cos(60) = 0.5.
    assert float(haversine_m(0.0, 0.0, 1.0, 0.0)) == pytest.approx(ONE_DEGREE_M, rel=1e-12)
    assert float(haversine_m(10.0, 60.0, 11.0, 60.0)) == pytest.approx(ONE_DEGREE_M * 0.5, rel=1e-4)


def test_quarter_meridian_and_antipodes():
    assert float(haversine_m(0.0, 0.0, 0.0, 90.0)) == pytest.approx(EARTH_RADIUS_M * math.pi / 2, rel=1e-12)
    assert float(haversine_m(0.0, 0.0, 180.0, 0.0)) == pytest.approx(EARTH_RADIUS_M * math.pi, rel=1e-12)


def test_same_point_is_zero_and_symmetry():
    assert float(haversine_m(117.23, 31.82, 117.23, 31.82)) == 0.0
    d_ab = haversine_m(117.23, 31.82, 121.47, 31.23)
    d_ba = haversine_m(121.47, 31.23, 117.23, 31.82)
    assert float(d_ab) == pytest.approx(float(d_ba), rel=1e-12)
    # Hefei - Shanghai is about 400 km as the crow flies.
    assert 390_000 < float(d_ab) < 420_000


def test_broadcasting_and_nan():
    d = haversine_m([0.0, 0.0, np.nan], 0.0, 0.0, [1.0, 2.0, 1.0])
    assert d.shape == (3,)
    np.testing.assert_allclose(d[:2], [ONE_DEGREE_M, 2 * ONE_DEGREE_M], rtol=1e-12)
    assert np.isnan(d[2])


def test_scalar_gives_0d_array():
    d = haversine_m(0.0, 0.0, 0.0, 1.0)
    assert isinstance(d, np.ndarray) and d.shape == ()


def test_path_length_sums_steps():
    # Up one degree, then up another: two degrees of meridian.
    assert path_length_m([0.0, 0.0, 0.0], [0.0, 1.0, 2.0]) == pytest.approx(2 * ONE_DEGREE_M, rel=1e-12)


def test_path_length_skips_nan_vertices():
    assert path_length_m([0.0, np.nan, 0.0], [0.0, 5.0, 1.0]) == pytest.approx(ONE_DEGREE_M, rel=1e-12)


@pytest.mark.parametrize(("lon", "lat"), [([], []), ([117.0], [31.0]), ([np.nan, 117.0], [31.0, 31.0])])
def test_path_length_of_fewer_than_two_points_is_zero(lon, lat):
    assert path_length_m(lon, lat) == 0.0


def test_path_length_unequal_lengths_raise():
    with pytest.raises(ValueError, match="same length"):
        path_length_m([0.0, 1.0], [0.0])
