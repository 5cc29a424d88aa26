"""/api/v1/rankings and /api/v1/config over real HTTP: roles and scope, CSV, drill-down, versioned configuration."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import AuditLog
from supervision.configuration import DEFAULTS
from tests.api.conftest import login_as
from tests.supervision.indicators import factory as f

COUNTY = "341302"  # the tests' own county, so operators other API tests leave behind stay out of the ranks
PERIOD = "2031-05"


@pytest.fixture(scope="module")
def data(engine):
    """Three operators of one county in May 2031: 甲 flawless with 3 waybills, 乙 flawless with 1, 丙 with a
    duplicate waybill (score < 100); one operator of another county."""
    tag = uuid.uuid4().hex[:6].upper()
    with Session(engine) as s:
        ops = {}
        for name, division, n in (("甲", COUNTY, 3), ("乙", COUNTY, 1), ("丙", COUNTY, 2), ("丁", "340104", 1)):
            op = f.operator(s, f"{name}{tag}", division)
            v = f.vehicle(s, f"皖{tag}{name}", 4)
            d = f.driver(s, f"3413{uuid.uuid4().int % 10**14:014d}")
            ws = [f.waybill(s, op, f.at(f"2031-05-{k + 1:02d}"), v, d) for k in range(n)]
            ops[name] = (op.id, ws[0].id)
        f.anomaly(s, "DUPLICATE_WAYBILL", s.get(type(ws[0]), ops["丙"][1]))
        s.commit()
    return {k: v[0] for k, v in ops.items()} | {"丙_waybill": ops["丙"][1]}


def _h(http, make_user, role, **kw):
    return login_as(http, make_user, role, **kw)[1]


def test_county_ranks_its_operators_with_ties_on_waybills(http, make_user, data):
    h = _h(http, make_user, "county", division_code=COUNTY)
    r = http.get("/api/v1/rankings", params={"period": PERIOD}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == PERIOD and body["previousPeriod"]["period"] == "2031-04"
    got = [(x["operatorId"], x["rank"], x["score"]) for x in body["items"]]
    assert got[:2] == [(data["甲"], 1, 100.0), (data["乙"], 2, 100.0)]  # equal score: more waybills first
    assert got[2][0] == data["丙"] and got[2][1] == 3 and got[2][2] < 100
    assert {x["operatorId"] for x in body["items"]} == {data["甲"], data["乙"], data["丙"]}
    assert body["items"][2]["indicators"]["uniqueness"] == {"value": 50.0, "good": 1, "total": 2}
    assert "intake_quality" in body["items"][0]["skipped"]


def test_operator_sees_only_its_own_row(http, make_user, data):
    h = _h(http, make_user, "operator", operator_id=data["丙"])
    items = http.get("/api/v1/rankings", params={"period": PERIOD}, headers=h).json()["items"]
    assert [x["operatorId"] for x in items] == [data["丙"]]
    own = http.get(f"/api/v1/rankings/{data['丙']}/indicators/uniqueness", params={"period": PERIOD}, headers=h)
    assert own.status_code == 200 and own.json()["total"] == 1
    rival = http.get(f"/api/v1/rankings/{data['甲']}/indicators/uniqueness", params={"period": PERIOD}, headers=h)
    assert rival.status_code == 404


def test_analyst_gets_the_ranking_but_not_the_documents(http, make_user, data):
    h = _h(http, make_user, "analyst")
    r = http.get("/api/v1/rankings", params={"period": PERIOD}, headers=h)
    ids = {x["operatorId"] for x in r.json()["items"]}
    assert {data["甲"], data["乙"], data["丙"], data["丁"]} <= ids
    r = http.get(f"/api/v1/rankings/{data['丙']}/indicators/uniqueness", params={"period": PERIOD}, headers=h)
    assert r.status_code == 403


def test_drill_down_is_scope_checked(http, make_user, data):
    h = _h(http, make_user, "county", division_code=COUNTY)
    r = http.get(f"/api/v1/rankings/{data['丙']}/indicators/uniqueness", params={"period": PERIOD}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 1 and r.json()["items"][0]["documentId"] == data["丙_waybill"]
    assert r.json()["items"][0]["anomalies"][0]["code"] == "DUPLICATE_WAYBILL"
    other = _h(http, make_user, "county", division_code="340104")
    r = http.get(f"/api/v1/rankings/{data['丙']}/indicators/uniqueness", params={"period": PERIOD}, headers=other)
    assert r.status_code == 404
    r = http.get(f"/api/v1/rankings/{data['丙']}/indicators/speed", params={"period": PERIOD}, headers=h)
    assert r.status_code == 422


def test_csv_and_bad_periods(http, make_user, data):
    h = _h(http, make_user, "county", division_code=COUNTY)
    r = http.get("/api/v1/rankings", params={"from": "2031-05-01", "to": "2031-05-31", "format": "csv"}, headers=h)
    assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["rank"] for row in rows] == ["1", "2", "3"] and rows[2]["uniqueness"] == "50.0"
    for params in ({"period": "2031-13"}, {"period": "May"}, {}, {"from": "2031-05-01"},
                   {"from": "2031-05-09", "to": "2031-05-01"}, {"period": PERIOD, "from": "2031-05-01"}):
        assert http.get("/api/v1/rankings", params=params, headers=h).status_code == 422, params


def test_config_is_versioned_audited_admin_only_and_cited_by_the_ranking(http, make_user, engine, data):
    analyst = _h(http, make_user, "analyst")
    v0 = http.get("/api/v1/config", headers=analyst).json()
    assert set(v0["values"]) >= set(DEFAULTS)
    province_name, province = login_as(http, make_user, "province", division_code="340000")
    r = http.put("/api/v1/config", json={"changes": {"indicator_weights": {"uniqueness": 50}}}, headers=province)
    assert r.status_code == 403
    with Session(engine) as s:
        refused = s.execute(select(AuditLog).where(AuditLog.action == "config_update",
                                                   AuditLog.username == province_name)).scalar_one()
        assert refused.outcome == "refused"
    admin_name, admin = login_as(http, make_user, "admin")
    bad = http.put("/api/v1/config", json={"changes": {"indicator_weights": {"uniqueness": -5}}}, headers=admin)
    assert bad.status_code == 422 and "non-negative" in str(bad.json()["detail"])
    r = http.put("/api/v1/config", json={"changes": {"indicator_weights": {"uniqueness": 50}}, "comment": "test"},
                 headers=admin)
    assert r.status_code == 200, r.text
    v1 = r.json()
    assert v1["version"] == v0["version"] + 1 and v1["createdBy"] == admin_name
    assert v1["values"]["indicator_weights"]["uniqueness"] == 50
    versions = http.get("/api/v1/config/versions", headers=analyst).json()["items"]
    assert [v["version"] for v in versions][:2] == [v1["version"], v0["version"]] and versions[-1]["version"] == 0
    with Session(engine) as s:
        ok = s.execute(select(AuditLog).where(AuditLog.action == "config_update", AuditLog.username == admin_name,
                                              AuditLog.outcome == "ok")).scalar_one()
        assert ok.target == f"config:{v1['version']}"
        assert ok.detail["changes"]["indicator_weights"] == {"uniqueness": 50}
    county = _h(http, make_user, "county", division_code=COUNTY)
    body = http.get("/api/v1/rankings", params={"period": PERIOD}, headers=county).json()
    assert body["configVersion"] == v1["version"] and body["weights"]["uniqueness"] == 50
    c = next(x for x in body["items"] if x["operatorId"] == data["丙"])
    assert c["configVersion"] == v1["version"]
    # uniqueness 50 % now weighs 50 of 105 (timeliness 15 + matching 20 + vehicles 10 + drivers 10 at 100 %;
    # intake, network and trajectory not applicable)
    assert c["score"] == round((100 * 55 + 50 * 50) / 105, 2)
    # put the defaults back for the other API tests (a new version: history is never rewritten)
    back = http.put("/api/v1/config", json={"changes": {"indicator_weights": DEFAULTS["indicator_weights"]}},
                    headers=admin)
    assert back.status_code == 200 and back.json()["version"] == v1["version"] + 1
