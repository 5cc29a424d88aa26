"""``/api/v1/stats/scale``, ``/stats/flows`` and ``/stats/density`` through a live server (own database): the k-floor
holds on every analyst route and format, an operator reads only its own platform, files are what they claim."""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from api.main import create_app
from store.jobs import KIND_STATISTICS
from supervision.statistics.jobs import statistics_handlers
from tests.api.conftest import login_as
from tests.conftest import live_server, make_database, user_maker
from tests.supervision.statistics.helpers import DAY, make_operator, send_waybill

PERIOD = {"from": DAY.isoformat(), "to": DAY.isoformat()}


@pytest.fixture(scope="module")
def stats_db(pg_admin_dsn):
    """Five operators (one vehicle, one waybill each, 昆山 → 蜀山) and a sixth with a lone waybill to 庐阳;
    a density cell with one vehicle and one with six."""
    url = make_database(pg_admin_dsn)
    eng = create_engine(url)
    with Session(eng) as s:
        ops = [make_operator(s, n) for n in range(1, 7)]
        for n, op in enumerate(ops[:5], start=1):
            send_waybill(s, op, f"YD{n}", plate=f"皖A4000{n}", license_=f"34010419900307{n:03d}1"[:18],
                         amount=1000)
        send_waybill(s, ops[5], "YD6", plate="皖A40006", receipt="340103", amount=777)
        statistics_handlers()[KIND_STATISTICS](s, {})
        import h3

        lone = h3.str_to_int(h3.latlng_to_cell(31.8, 117.2, 7))
        busy = h3.str_to_int(h3.latlng_to_cell(31.8, 117.6, 7))
        s.execute(text("INSERT INTO density_daily (day, res, source, h3, fixes, vehicles, vehicle_keys) VALUES "
                       "(:d, 7, 1, :a, 40, 1, ARRAY[7]::bigint[]), (:d, 7, 1, :b, 90, 6, ARRAY[1,2,3,4,5,6]::bigint[])"),
                  {"d": DAY, "a": lone, "b": busy})
        s.commit()
        ids = [op.id for op in ops]
    yield url, eng, ids
    eng.dispose()


@pytest.fixture(scope="module")
def live(stats_db):
    url, _, _ = stats_db
    with live_server(create_app(url), start_timeout_s=20) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def _token(http, eng, role, **kw) -> dict[str, str]:
    return login_as(http, user_maker(eng), role, **kw)[1]


def test_analyst_scale_json_and_csv_hold_the_floor(live, stats_db):
    _, eng, ids = stats_db
    analyst = _token(live, eng, "analyst")
    r = live.get("/api/v1/stats/scale", params={**PERIOD, "group": "operator"}, headers=analyst)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["operatorId"] for row in body["rows"]] == [None]  # six one-operator rows merged into one
    assert body["rows"][0]["waybills"] == 6 and body["privacy"]["suppressed"] == 6
    assert body["privacy"]["method"] == "merged" and body["estimated"]["share"] == 1.0
    f = live.get("/api/v1/stats/scale", params={**PERIOD, "group": "operator", "format": "csv"}, headers=analyst)
    assert f.status_code == 200 and f.headers["content-type"].startswith("text/csv")
    assert f.content.startswith("\ufeff".encode()) and f.headers["x-privacy-suppressed"] == "6"
    rows = list(csv.DictReader(io.StringIO(f.content.decode("utf-8-sig"))))
    assert [row["operatorId"] for row in rows] == [""] and rows[0]["waybills"] == "6"
    # the province sees every operator's row
    province = _token(live, eng, "province", division_code="340000")
    whole = live.get("/api/v1/stats/scale", params={**PERIOD, "group": "operator"}, headers=province).json()
    assert sorted(row["operatorId"] for row in whole["rows"]) == sorted(ids)
    assert whole["rows"][0]["operatorName"].startswith("测试网络货运")


def test_analyst_flows_every_format_hold_the_floor(live, stats_db):
    _, eng, _ = stats_db
    analyst = _token(live, eng, "analyst")
    for level in ("county", "city", "province", "h3"):
        body = live.get("/api/v1/stats/flows", params={**PERIOD, "level": level}, headers=analyst).json()
        assert body["privacy"]["applied"], level
        assert all(row["vehicles"] >= 5 and row["operators"] >= 5 for row in body["rows"]), level
    county = live.get("/api/v1/stats/flows", params={**PERIOD, "level": "county"}, headers=analyst).json()
    assert [(r["origin"], r["destination"]) for r in county["rows"]] == [("320583", "340104")]
    assert county["privacy"]["suppressed"] == 1
    g = live.get("/api/v1/stats/flows", params={**PERIOD, "level": "county", "format": "geojson"}, headers=analyst)
    assert g.status_code == 200 and g.headers["content-type"].startswith("application/geo+json")
    fc = g.json()
    [feature] = fc["features"]
    assert fc["type"] == "FeatureCollection" and feature["geometry"]["type"] == "LineString"
    (x0, _), (x1, _) = feature["geometry"]["coordinates"]
    assert 120 < x0 < 121.5 and 116 < x1 < 118  # 昆山 → 合肥蜀山
    assert feature["properties"]["destination"] == "340104" and g.headers["x-privacy-suppressed"] == "1"
    c = live.get("/api/v1/stats/flows", params={**PERIOD, "level": "city", "format": "csv"}, headers=analyst)
    rows = list(csv.DictReader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert [(r["origin"], r["destination"], r["waybills"]) for r in rows] == [("320500", "340100", "6")]  # 蜀山 + 庐阳
    p = live.get("/api/v1/stats/flows", params={**PERIOD, "level": "h3", "res": 6, "format": "geoparquet"},
                 headers=analyst)
    assert p.status_code == 200 and p.headers["content-type"] == "application/vnd.apache.parquet"
    import geopandas as gpd

    frame = gpd.read_parquet(io.BytesIO(p.content))
    assert len(frame) == 1 and frame.geometry.iloc[0].geom_type == "LineString" and frame.crs.to_epsg() == 4326


def test_analyst_density_holds_the_floor(live, stats_db):
    _, eng, _ = stats_db
    params = {"bbox": "110,25,125,35", "res": 7, **PERIOD}
    analyst = live.get("/api/v1/stats/density", params=params, headers=_token(live, eng, "analyst")).json()
    assert [f["properties"]["fixes"] for f in analyst["features"]] == [90] and analyst["privacy"]["suppressed"] == 1
    province = _token(live, eng, "province", division_code="340000")
    whole = live.get("/api/v1/stats/density", params=params, headers=province).json()
    assert sorted(f["properties"]["fixes"] for f in whole["features"]) == [40, 90]


def test_operator_reads_its_own_figures_only(live, stats_db):
    _, eng, ids = stats_db
    op = _token(live, eng, "operator", operator_id=ids[5])
    scale = live.get("/api/v1/stats/scale", params={**PERIOD, "group": "operator"}, headers=op).json()
    assert [r["operatorId"] for r in scale["rows"]] == [ids[5]] and scale["totals"]["amount"] == 777.0
    other = live.get("/api/v1/stats/scale", params={**PERIOD, "operator_id": ids[0]}, headers=op).json()
    assert other["rows"] == []
    fl = live.get("/api/v1/stats/flows", params={**PERIOD, "level": "county"}, headers=op).json()
    assert [(r["origin"], r["destination"]) for r in fl["rows"]] == [("320583", "340103")]
    assert fl["privacy"] == {"applied": False}
    assert live.get("/api/v1/stats/density", params={"bbox": "110,25,125,35", **PERIOD},
                    headers=op).status_code == 403


def test_bad_parameters_are_422_and_no_token_401(live, stats_db):
    _, eng, _ = stats_db
    h = _token(live, eng, "province", division_code="340000")
    assert live.get("/api/v1/stats/scale", params={**PERIOD, "group": "vehicle"}, headers=h).status_code == 422
    assert live.get("/api/v1/stats/scale", params={**PERIOD, "by": "week"}, headers=h).status_code == 422
    assert live.get("/api/v1/stats/scale", params={"from": "2024-03-16", "to": "2024-03-15"},
                    headers=h).status_code == 422
    assert live.get("/api/v1/stats/flows", params={**PERIOD, "level": "h3", "res": 8},
                    headers=h).status_code == 422
    assert live.get("/api/v1/stats/flows", params={**PERIOD, "level": "town"}, headers=h).status_code == 422
    assert live.get("/api/v1/stats/scale", params=PERIOD).status_code == 401
    monthly = live.get("/api/v1/stats/scale", params={**PERIOD, "by": "month", "group": "division,cargo",
                                                      "divisionLevel": "city"}, headers=h).json()
    assert {(r["period"], r["divisionCode"], r["cargoTypeCode"]) for r in monthly["rows"]} == {
        ("2024-03", "320500", "1200")}
    assert dt.date.fromisoformat(monthly["from"]) == DAY
