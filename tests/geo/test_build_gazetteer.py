"""Tests for scripts/build_gazetteer.py on a tiny hand-made source file."""

import importlib.util
from pathlib import Path

import pytest

from geo.crs import wgs84_to_gcj02

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_gazetteer.py"


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("build_gazetteer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build


def _gcj(lon, lat):
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    return f"{float(g_lon):.6f},{float(g_lat):.6f}"


@pytest.fixture(scope="module")
def built(build, tmp_path_factory):
    rows = [
        ("110000000000", "北京市", _gcj(116.40, 39.90)),
        ("110101000000", "东城区", _gcj(116.41, 39.93)),
        ("420000000000", "湖北省", _gcj(114.34, 30.55)),
        ("420100000000", "武汉市", _gcj(114.30, 30.59)),
        ("420102000000", "江岸区", _gcj(114.31, 30.60)),
        ("420103000000", "江汉区", _gcj(114.27, 30.60)),
        ("420199000000", "新区", ","),  # no point: takes the city's point and radius
        ("429004000000", "仙桃市", _gcj(113.45, 30.36)),
        ("990000000000", "苏鲁交界", ","),  # not GB/T 2260: dropped
    ]
    path = tmp_path_factory.mktemp("src") / "adcodes.csv"
    text = "adcode,name,longitude,latitude\n" + "".join(f"{c},{n},{p}\n" for c, n, p in rows)
    path.write_text(text, encoding="utf-8")
    return build(path).set_index("code")


def test_levels_parents_and_dropped_rows(built):
    assert "990000" not in built.index
    assert built.loc["420000", "level"] == "province"
    assert built.loc["420100", ["level", "parent_code"]].tolist() == ["city", "420000"]
    assert built.loc["420102", ["level", "parent_code"]].tolist() == ["county", "420100"]
    assert built.loc["429004", "parent_code"] == "420000"  # no 429000 row: the province
    assert built.loc["110101", "parent_code"] == "110000"  # municipality district
    assert (built["province_code"] == built.index.str[:2] + "0000").all()


def test_points_converted_back_to_wgs84(built):
    assert built.loc["420102", "lon"] == pytest.approx(114.31, abs=1e-6)
    assert built.loc["420102", "lat"] == pytest.approx(30.60, abs=1e-6)


def test_missing_point_and_radius_come_from_parent(built):
    columns = ["lon", "lat", "radius_m"]
    assert built.loc["420199", columns].tolist() == built.loc["420100", columns].tolist()


def test_radii_clamped_and_covering(built):
    counties = built[(built["level"] == "county") & (built.index != "420199")]
    assert counties["radius_m"].between(2_000, 60_000).all()
    # Wuhan must reach its farthest district point plus that district's radius.
    assert built.loc["420100", "radius_m"] >= built.loc["420103", "radius_m"]
    assert built.loc["420000", "radius_m"] >= built.loc["420100", "radius_m"]
    assert built["radius_m"].dtype.kind == "i"
