"""Tests for geo.gazetteer over the shipped data/divisions.csv."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from geo import gazetteer
from geo.bounds import in_china_bbox
from geo.distance import haversine_m

PROVINCE_PREFIXES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
    "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
}  # fmt: skip


@pytest.fixture(scope="module")
def table():
    return gazetteer.divisions()


def test_columns_are_the_division_fields(table):
    assert list(table.columns) == [f.name for f in dataclasses.fields(gazetteer.Division)]
    assert table["code"].is_unique
    assert table["code"].str.fullmatch(r"\d{6}").all()


def test_all_34_provinces_present(table):
    provinces = table[table["level"] == "province"]
    assert len(provinces) == 34
    assert set(provinces["code"].str[:2]) == PROVINCE_PREFIXES
    assert provinces["parent_code"].isna().all()


def test_anhui_has_16_cities_and_104_county_level_divisions():
    assert len(gazetteer.divisions("340000", level="city")) == 16
    anhui_counties = gazetteer.counties("340000")
    assert len(anhui_counties) == 104
    names = set(anhui_counties["name"])
    # Districts, county-level cities and counties are all county level.
    assert {"蜀山区", "巢湖市", "肥西县", "潜山市"} <= names
    assert (anhui_counties["province_code"] == "340000").all()


def test_every_non_province_has_an_existing_parent_of_a_higher_level(table):
    rank = {"province": 0, "city": 1, "county": 2}
    by_code = table.set_index("code")
    children = table[table["level"] != "province"]
    assert children["parent_code"].isin(by_code.index).all()
    parent_level = by_code.loc[children["parent_code"], "level"].map(rank).to_numpy()
    assert (parent_level < children["level"].map(rank).to_numpy()).all()
    assert (children["parent_code"].str[:2] == children["code"].str[:2]).all()


@pytest.mark.parametrize(
    ("code", "parent"),
    [
        ("340104", "340100"),  # 蜀山区 in 合肥市
        ("110101", "110000"),  # 东城区: municipality districts hang off the province
        ("500229", "500000"),  # 城口县, Chongqing
        ("429004", "420000"),  # 仙桃市, directly administered by Hubei
        ("469001", "460000"),  # 五指山市, Hainan
        ("659001", "650000"),  # 石河子市, Xinjiang
        ("340100", "340000"),
    ],
)
def test_parent_codes(code, parent):
    assert gazetteer.get(code).parent_code == parent


def test_radii_in_range(table):
    counties = table[table["level"] == "county"]
    assert (table["radius_m"] >= 2_000).all()
    # Counties with a point of their own get 2-60 km; those borrowing the parent's point carry
    # the parent's (larger) radius, so they are judged against the parent.
    parents = table.set_index("code").loc[counties["parent_code"]]
    own_point = (counties["lon"].to_numpy() != parents["lon"].to_numpy()) | (
        counties["lat"].to_numpy() != parents["lat"].to_numpy()
    )
    assert own_point.mean() > 0.85
    assert (counties.loc[own_point, "radius_m"] <= 60_000).all()
    borrowed_m = counties.loc[~own_point, "radius_m"].to_numpy()
    assert (borrowed_m == parents.loc[~own_point, "radius_m"].to_numpy()).all()
    assert (table.loc[table["level"] == "city", "radius_m"] <= 600_000).all()
    assert (table["radius_m"] <= 2_000_000).all()


def test_city_radius_covers_its_counties():
    hefei = gazetteer.get("340100")
    shushan = gazetteer.get("340104")
    feidong = gazetteer.get("340122")
    for county in (shushan, feidong):
        reach = float(haversine_m(hefei.lon, hefei.lat, county.lon, county.lat)) + county.radius_m
        assert reach <= hefei.radius_m + 1.0
    # An urban district is far smaller than a rural county.
    assert shushan.radius_m < feidong.radius_m


def test_points_are_in_china(table):
    outside = table[~in_china_bbox(table["lon"], table["lat"])]
    # CHINA_BBOX stops at 18 N; only 三沙市 (Woody Island, 16.8 N) lies south of it.
    assert outside["code"].tolist() == ["460300"]
    assert table[["lon", "lat", "radius_m"]].notna().all().all()


def test_hefei_point_and_record():
    hefei = gazetteer.get("340100")
    assert hefei == gazetteer.Division(
        code="340100", name="合肥市", level="city", parent_code="340000", province_code="340000",
        lon=hefei.lon, lat=hefei.lat, radius_m=hefei.radius_m,
    )  # fmt: skip
    assert float(haversine_m(hefei.lon, hefei.lat, 117.23, 31.82)) < 30_000


def test_points_are_wgs84_not_gcj02():
    # The source gives GCJ-02; the stored point must be the inverse, i.e. ~hundreds of metres away.
    from geo.crs import wgs84_to_gcj02

    hefei = gazetteer.get("340100")
    gcj_lon, gcj_lat = wgs84_to_gcj02(hefei.lon, hefei.lat)
    assert float(gcj_lon) == pytest.approx(117.227219, abs=2e-6)  # adcodes.csv value for 340100
    assert float(gcj_lat) == pytest.approx(31.820591, abs=2e-6)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("340104", "340104"),
        ("340104000000", "340104"),
        (" 340104 ", "340104"),
        (340104, "340104"),
        ("340104001000", None),
        ("34010", None),
        ("3401040", None),
        ("34010a", None),
        ("３４０１０４", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_code(code, expected):
    assert gazetteer.normalize_code(code) == expected


def test_get_and_exists():
    assert gazetteer.get("340104000000") == gazetteer.get("340104")
    assert gazetteer.get("340104").name == "蜀山区"
    assert gazetteer.get("349999") is None
    assert gazetteer.get("not a code") is None
    assert gazetteer.exists("110000") and gazetteer.exists("110101000000")
    assert not gazetteer.exists("999999") and not gazetteer.exists("990000")


def test_province_parent_is_none_and_types():
    anhui = gazetteer.get("340000")
    assert anhui.parent_code is None and anhui.level == "province"
    assert isinstance(anhui.lon, float) and isinstance(anhui.radius_m, float)


def test_divisions_filters_and_returns_a_copy():
    by_prefix = gazetteer.divisions("34")
    by_code = gazetteer.divisions("340000000000")
    pd.testing.assert_frame_equal(by_prefix, by_code)
    assert len(by_prefix) == 1 + 16 + 104
    by_prefix.loc[0, "name"] = "changed"
    assert gazetteer.get(by_code.loc[0, "code"]).name != "changed"
    assert gazetteer.divisions(level="province")["code"].str.endswith("0000").all()
    assert gazetteer.divisions()["code"].is_monotonic_increasing
    assert np.array_equal(gazetteer.divisions().index, np.arange(len(gazetteer.divisions())))


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"level": "town"}, "level"), ({"province": "340100"}, "province")]
)
def test_divisions_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gazetteer.divisions(**kwargs)


def test_counties_of_a_municipality_include_districts():
    beijing = gazetteer.counties("110000")
    assert len(beijing) == 16
    assert {"东城区", "海淀区", "延庆区"} <= set(beijing["name"])
