"""Tests for geo.crs: forward offsets, exact inverses, outside China, NaN, system dispatch."""

import numpy as np
import pytest

from geo import crs
from geo.bounds import CHINA_BBOX
from geo.distance import haversine_m

# Reference vectors published with the eviltransform project (wgsLat, wgsLng, gcjLat, gcjLng).
EVILTRANSFORM_VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.fixture(scope="module")
def china_grid():
    rng = np.random.default_rng(20240601)
    lon_min, lat_min, lon_max, lat_max = CHINA_BBOX
    n = 200_000
    return rng.uniform(lon_min, lon_max, n), rng.uniform(lat_min, lat_max, n)


@pytest.mark.parametrize(("wgs_lat", "wgs_lon", "gcj_lat", "gcj_lon"), EVILTRANSFORM_VECTORS)
def test_wgs84_to_gcj02_matches_published_vectors(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = crs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert float(lon) == pytest.approx(gcj_lon, abs=1e-9)
    assert float(lat) == pytest.approx(gcj_lat, abs=1e-9)


@pytest.mark.parametrize(("wgs_lat", "wgs_lon", "gcj_lat", "gcj_lon"), EVILTRANSFORM_VECTORS)
def test_gcj02_to_wgs84_inverts_published_vectors(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = crs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert float(haversine_m(lon, lat, wgs_lon, wgs_lat)) < 0.01


def test_gcj02_to_bd09_matches_common_reference():
    # Value quoted by the widely used coordtransform library for gcj02tobd09(116.404, 39.915).
    lon, lat = crs.gcj02_to_bd09(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41036949371029, abs=1e-9)
    assert float(lat) == pytest.approx(39.92133699351021, abs=1e-9)


@pytest.mark.parametrize(
    ("name", "lon", "lat"),
    [
        ("Beijing", 116.397, 39.909),
        ("Hefei", 117.23, 31.82),
        ("Urumqi", 87.62, 43.79),
        ("Haikou", 110.33, 20.03),
    ],
)
def test_forward_offset_is_a_few_hundred_metres(name, lon, lat):
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(lon, lat)
    offset_m = float(haversine_m(lon, lat, gcj_lon, gcj_lat))
    assert 100.0 < offset_m < 700.0, name
    bd_lon, bd_lat = crs.wgs84_to_bd09(lon, lat)
    # BD-09 adds roughly another 0.0065 / 0.006 degrees (several hundred metres) on top.
    assert float(haversine_m(gcj_lon, gcj_lat, bd_lon, bd_lat)) > 500.0, name


def test_gcj_round_trip_below_a_centimetre_across_china(china_grid):
    lon, lat = china_grid
    back_lon, back_lat = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert np.max(haversine_m(lon, lat, back_lon, back_lat)) < 0.01


def test_bd_round_trip_below_a_centimetre_across_china(china_grid):
    lon, lat = china_grid
    back_lon, back_lat = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert np.max(haversine_m(lon, lat, back_lon, back_lat)) < 0.01


def test_bd09_to_gcj02_is_exact_inverse(china_grid):
    lon, lat = china_grid
    bd_lon, bd_lat = crs.gcj02_to_bd09(lon, lat)
    back_lon, back_lat = crs.gcj02_to_bd09(*crs.bd09_to_gcj02(bd_lon, bd_lat))
    assert np.max(haversine_m(bd_lon, bd_lat, back_lon, back_lat)) < 0.01


def test_inverse_beats_the_one_step_approximation():
    # The naive inverse (subtract the offset evaluated at the GCJ point) is off by about a metre;
    # the exact one must be far better, or it is not iterating.
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(117.23, 31.82)
    lon, lat = crs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    naive_lon = 2 * gcj_lon - crs.wgs84_to_gcj02(gcj_lon, gcj_lat)[0]
    naive_lat = 2 * gcj_lat - crs.wgs84_to_gcj02(gcj_lon, gcj_lat)[1]
    assert float(haversine_m(naive_lon, naive_lat, 117.23, 31.82)) > 0.1
    assert float(haversine_m(lon, lat, 117.23, 31.82)) < 1e-4


def test_outside_china_gcj_is_unchanged():
    lon = np.array([2.3522, -74.006, 151.21, 69.0])  # Paris, New York, Sydney, just west of the rectangle
    lat = np.array([48.8566, 40.7128, -33.87, 35.0])
    assert crs.out_of_china(lon, lat).all()
    for func in (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)


def test_out_of_china_inside_and_nan():
    result = crs.out_of_china([117.23, 87.62, np.nan], [31.82, 43.79, 30.0])
    assert result.dtype == bool
    assert result.tolist() == [False, False, True]


@pytest.mark.parametrize(
    "func",
    [
        crs.wgs84_to_gcj02,
        crs.gcj02_to_wgs84,
        crs.gcj02_to_bd09,
        crs.bd09_to_gcj02,
        crs.wgs84_to_bd09,
        crs.bd09_to_wgs84,
    ],
)
def test_nan_in_nan_out_and_neighbours_unaffected(func):
    lon, lat = func([117.23, np.nan, 116.4], [31.82, 31.0, np.nan])
    assert lon.dtype == np.float64 and lat.dtype == np.float64
    assert np.isnan(lon[1]) and np.isnan(lat[1]) and np.isnan(lon[2]) and np.isnan(lat[2])
    assert np.isfinite(lon[0]) and np.isfinite(lat[0])
    assert abs(lon[0] - 117.23) < 0.05


def test_scalar_in_gives_0d_arrays_and_broadcasting_works():
    lon, lat = crs.wgs84_to_gcj02(117.23, 31.82)
    assert isinstance(lon, np.ndarray) and lon.shape == () and lat.shape == ()
    lon, lat = crs.gcj02_to_wgs84([117.23, 117.24], 31.82)
    assert lon.shape == (2,) and lat.shape == (2,)


def test_empty_input():
    lon, lat = crs.gcj02_to_wgs84([], [])
    assert lon.shape == (0,) and lat.shape == (0,)


@pytest.mark.parametrize("system", ["WGS84", "CGCS2000"])
def test_wgs84_and_cgcs2000_pass_through(system):
    lon, lat = crs.to_wgs84([117.23], [31.82], system)
    assert lon.tolist() == [117.23] and lat.tolist() == [31.82]
    lon, lat = crs.from_wgs84([117.23], [31.82], system)
    assert lon.tolist() == [117.23] and lat.tolist() == [31.82]


@pytest.mark.parametrize("system", ["GCJ02", "BD09"])
def test_to_and_from_wgs84_dispatch(system):
    lon, lat = crs.from_wgs84(117.23, 31.82, system)
    assert float(haversine_m(lon, lat, 117.23, 31.82)) > 100.0
    back_lon, back_lat = crs.to_wgs84(lon, lat, system)
    assert float(haversine_m(back_lon, back_lat, 117.23, 31.82)) < 0.01


def test_unknown_system_names_allowed_values():
    with pytest.raises(ValueError, match="WGS84, CGCS2000, GCJ02, BD09.*'gcj-02'"):
        crs.to_wgs84(117.0, 31.0, "gcj-02")
    with pytest.raises(ValueError, match="BD09"):
        crs.from_wgs84(117.0, 31.0, "EPSG:4326")
