"""The trajectory and density routes through a live uvicorn server on a loaded province (own database)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from api.main import create_app
from core.beijing import BEIJING
from simulation.demo.load import load
from store.models import Operator, Position, Waybill
from supervision.statistics.density import rollup_density
from tests.api.conftest import login_as
from tests.conftest import live_server, make_database, user_maker
from trajectories.maps import trajectory_geojson_bytes


@pytest.fixture(scope="module")
def api_db(pg_admin_dsn, province_dir):
    """The live server commits: its own copy of the province."""
    url = make_database(pg_admin_dsn)
    eng = create_engine(url)
    with Session(eng) as s:
        load(s, province_dir, progress=False)
        day = s.scalar(select(func.min(Position.t))).astimezone(BEIJING).date()
        rollup_density(s, day)
        s.commit()
    yield url, eng, day
    eng.dispose()


@pytest.fixture(scope="module")
def live(api_db):
    url, _, _ = api_db
    with live_server(create_app(url), start_timeout_s=20) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def _token(http, eng, role, **kw) -> dict[str, str]:
    return login_as(http, user_maker(eng), role, **kw)[1]


def _first_waybill(eng) -> tuple[int, int, str]:
    with Session(eng) as s:
        w = s.scalars(select(Waybill).order_by(Waybill.id)).first()
        return w.id, w.operator_id, s.get(Operator, w.operator_id).division_code


def test_trajectory_then_verify_then_verdict_on_the_map(live, api_db):
    _, eng, _ = api_db
    wid, _, _ = _first_waybill(eng)
    admin = _token(live, eng, "admin")
    before = live.get(f"/api/v1/waybills/{wid}/trajectory", headers=admin)
    assert before.status_code == 200 and before.headers["content-type"].startswith("application/geo+json")
    assert [v["verdict"] for v in before.json()["verifications"]] == [None]
    r = live.post(f"/api/v1/waybills/{wid}/verify", headers=admin)
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["verdict"] in ("PASS", "SUSPECT", "FAIL", "NO_DATA")
    after = live.get(f"/api/v1/waybills/{wid}/trajectory", headers=admin).json()
    assert after["verifications"][0]["verdict"] == item["verdict"]
    assert any(f["properties"]["kind"] == "trajectory" for f in after["features"])


def test_trajectory_body_is_the_services_geojson_as_built(live, api_db):
    _, eng, _ = api_db
    wid, _, _ = _first_waybill(eng)
    admin = _token(live, eng, "admin")
    assert live.post(f"/api/v1/waybills/{wid}/verify", headers=admin).status_code == 200
    r = live.get(f"/api/v1/waybills/{wid}/trajectory", headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    with Session(eng) as s:
        assert r.content == trajectory_geojson_bytes(s, wid)
    fc = r.json()
    fixes = [f for f in fc["features"] if f["properties"]["kind"] == "fixes"]
    assert fixes and all(len(f["geometry"]["coordinates"]) == len(f["properties"]["t"]) == f["properties"]["n"]
                         for f in fixes)
    assert int(r.headers["content-length"]) == len(r.content)


def test_unknown_waybill_is_404_and_no_token_is_401(live, api_db):
    _, eng, _ = api_db
    admin = _token(live, eng, "admin")
    assert live.get("/api/v1/waybills/999999999/trajectory", headers=admin).status_code == 404
    assert live.post("/api/v1/waybills/999999999/verify", headers=admin).status_code == 404
    assert live.get("/api/v1/waybills/1/trajectory").status_code == 401


def test_scope_operator_own_only_county_own_division_analyst_none(live, api_db):
    _, eng, _ = api_db
    wid, op_id, division = _first_waybill(eng)
    with Session(eng) as s:
        other_op = s.scalar(select(Operator.id).where(Operator.id != op_id, Operator.division_code != division))
    own = _token(live, eng, "operator", operator_id=op_id)
    other = _token(live, eng, "operator", operator_id=other_op)
    county = _token(live, eng, "county", division_code=division)
    elsewhere = _token(live, eng, "county", division_code="110101")
    analyst = _token(live, eng, "analyst")
    url = f"/api/v1/waybills/{wid}/trajectory"
    assert live.get(url, headers=own).status_code == 200
    assert live.post(f"/api/v1/waybills/{wid}/verify", headers=own).status_code == 200
    assert live.get(url, headers=other).status_code == 404
    assert live.post(f"/api/v1/waybills/{wid}/verify", headers=other).status_code == 404
    assert live.get(url, headers=county).status_code == 200
    assert live.get(url, headers=elsewhere).status_code == 404
    assert live.get(url, headers=analyst).status_code == 403


def test_density_hexagons_in_bbox(live, api_db):
    _, eng, day = api_db
    # an admin sees every cell; analysts get the k-floor (tests/api/test_stats_api.py), which empties this small day
    analyst = _token(live, eng, "admin")
    params = {"bbox": "114,29,120,35", "res": 7, "from": day.isoformat(), "to": day.isoformat()}
    r = live.get("/api/v1/stats/density", params=params, headers=analyst)
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["res"] == 7 and fc["features"]
    counts = [f["properties"]["fixes"] for f in fc["features"]]
    assert counts == sorted(counts, reverse=True) and sum(counts) == fc["totalFixes"]
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1]  # a hexagon, closed
    only_app = live.get("/api/v1/stats/density", params={**params, "source": "app"}, headers=analyst).json()
    assert 0 < only_app["totalFixes"] < fc["totalFixes"]
    empty = live.get("/api/v1/stats/density", params={**params, "bbox": "0,0,1,1"}, headers=analyst).json()
    assert empty["features"] == [] and empty["totalFixes"] == 0
    assert live.get("/api/v1/stats/density", params={**params, "bbox": "1,2,3"}, headers=analyst).status_code == 422
    assert live.get("/api/v1/stats/density", params={**params, "res": 3}, headers=analyst).status_code == 422
    operator = _token(live, eng, "operator", operator_id=_first_waybill(eng)[1])
    assert live.get("/api/v1/stats/density", params=params, headers=operator).status_code == 403
