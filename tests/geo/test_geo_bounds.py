"""Tests for geo.bounds."""

import numpy as np

from geo.bounds import CHINA_BBOX, in_china_bbox


def test_bbox_values():
    assert CHINA_BBOX == (73.5, 18.0, 135.1, 53.6)


def test_cities_inside_and_foreign_points_outside():
    # Hefei, Urumqi, Harbin, Haikou | Paris, Tokyo, Bangkok
    lon = [117.23, 87.62, 126.64, 110.33, 2.35, 139.69, 100.5]
    lat = [31.82, 43.79, 45.76, 20.03, 48.86, 35.69, 13.75]
    assert in_china_bbox(lon, lat).tolist() == [True, True, True, True, False, False, False]


def test_edges_included_and_nan_outside():
    result = in_china_bbox([73.5, 135.1, np.nan, 117.0], [18.0, 53.6, 31.0, np.nan])
    assert result.dtype == bool
    assert result.tolist() == [True, True, False, False]
