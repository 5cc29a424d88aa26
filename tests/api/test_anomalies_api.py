"""GET /api/v1/anomalies over real HTTP: scope per role, filters, counts, CSV, detail with evidence."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy.orm import Session

from store.anomalies import record
from store.models import Operator
from tests.api.conftest import login_as


@pytest.fixture(scope="module")
def ledger(engine):
    """Two operators in two counties of 合肥 with anomalies of two groups."""
    tag = uuid.uuid4().hex[:8]
    with Session(engine) as s:
        a = Operator(usci=f"91340104{tag}A", name="甲", division_code="340104")
        b = Operator(usci=f"91340102{tag}B", name="乙", division_code="340102")
        s.add_all([a, b])
        s.flush()
        for op, code, n in ((a, "TRACK_MISSING", 3), (a, "MATCH_AMOUNT", 1), (b, "TRACK_MISSING", 2)):
            for k in range(n):
                record(s, code, document_kind="waybill", document_key=f"{tag}:{op.id}:{code}:{k}",
                       operator_id=op.id, document_id=k, reason_zh="无轨迹", reason_en="no track",
                       evidence={"k": k})
        s.commit()
        return {"a": a.id, "b": b.id}


def _login(http, make_user, role, **kw):
    return login_as(http, make_user, role, **kw)[1]


def _mine(http, headers, ledger, **params):
    r = http.get("/api/v1/anomalies", params={"limit": 1000, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return [i for i in r.json()["items"] if i["operatorId"] in (ledger["a"], ledger["b"])]


def test_each_role_sees_its_scope(http, make_user, ledger):
    county_a = _login(http, make_user, "county", division_code="340104")
    assert {i["operatorId"] for i in _mine(http, county_a, ledger)} == {ledger["a"]}
    city = _login(http, make_user, "city", division_code="340100")
    assert len(_mine(http, city, ledger)) == 6
    op_b = _login(http, make_user, "operator", operator_id=ledger["b"])
    assert [i["code"] for i in _mine(http, op_b, ledger)] == ["TRACK_MISSING"] * 2
    analyst = _login(http, make_user, "analyst")
    assert http.get("/api/v1/anomalies", headers=analyst).status_code == 403


def test_filters_counts_and_names(http, make_user, ledger):
    admin = _login(http, make_user, "admin")
    rows = _mine(http, admin, ledger, group="MATCH")
    assert [(r["code"], r["nameZh"], r["groupZh"]) for r in rows] == [("MATCH_AMOUNT", "金额不一致",
                                                                         "运单与资金流水单匹配异常")]
    summary = http.get("/api/v1/anomalies/summary", params={"operator_id": ledger["a"]}, headers=admin).json()
    assert summary["byCode"] == {"TRACK_MISSING": 3, "MATCH_AMOUNT": 1} and summary["byGroup"]["TRACK"] == 3
    assert http.get("/api/v1/anomalies", params={"sort": "nonsense"}, headers=admin).status_code == 422


def test_csv_and_detail(http, make_user, ledger):
    county_b = _login(http, make_user, "county", division_code="340102")
    r = http.get("/api/v1/anomalies", params={"format": "csv", "limit": 1000}, headers=county_b)
    assert r.content.startswith("\ufeff".encode())
    rows = [x for x in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))
            if x["operatorId"] == str(ledger["b"])]
    assert len(rows) == 2 and rows[0]["reasonZh"] == "无轨迹"
    one = _mine(http, county_b, ledger)[0]
    detail = http.get(f"/api/v1/anomalies/{one['id']}", headers=county_b).json()
    assert "evidence" in detail and detail["id"] == one["id"]
    county_a = _login(http, make_user, "county", division_code="340104")
    assert http.get(f"/api/v1/anomalies/{one['id']}", headers=county_a).status_code == 404


def test_not_checked_yet_is_listed_by_its_status(http, make_user, engine):
    """A registry outage leaves a ``pending_check`` row; regulators find it by status, and it is not an anomaly."""
    from store.anomalies import mark_pending

    tag = uuid.uuid4().hex[:8]
    with Session(engine) as s:
        op = Operator(usci=f"91340104{tag}P", name="丙", division_code="340104")
        s.add(op)
        s.flush()
        mark_pending(s, "QUAL_VEHICLE_CERT", document_kind="waybill", document_key=f"{tag}:wb", operator_id=op.id,
                     reason_zh="未核验（登记系统不可用）", reason_en="not checked yet (registry unavailable)")
        s.commit()
        op_id = op.id
    admin = _login(http, make_user, "admin")
    pending = http.get("/api/v1/anomalies", params={"status": "pending_check", "operator_id": op_id}, headers=admin)
    assert pending.status_code == 200, pending.text
    assert [(i["code"], i["status"]) for i in pending.json()["items"]] == [("QUAL_VEHICLE_CERT", "pending_check")]
    open_ = http.get("/api/v1/anomalies", params={"status": "open", "operator_id": op_id}, headers=admin)
    assert open_.json()["items"] == []


def test_summary_breakdowns_match_the_list(http, make_user, ledger, engine):
    """The summary's three breakdowns (one grouped query) each add up to the list's total, largest first; an
    anomaly without an operator (an unauthenticated send) is counted under "" for the province."""
    tag = uuid.uuid4().hex[:8]
    with Session(engine) as s:
        record(s, "INTAKE_UNKNOWN_PARTY", document_kind="waybill", document_key=f"{tag}:orphan", operator_id=None,
               reason_zh="无主", reason_en="no operator")
        s.commit()
    city = _login(http, make_user, "city", division_code="340100")
    params = {"group": "TRACK"}
    summary = http.get("/api/v1/anomalies/summary", params=params, headers=city).json()
    total = http.get("/api/v1/anomalies", params=params, headers=city).json()["total"]
    for name in ("byGroup", "byCode", "byOperator"):
        counts = list(summary[name].values())
        assert sum(counts) == total and counts == sorted(counts, reverse=True), (name, summary)
    assert summary["byOperator"][str(ledger["a"])] == 3 and summary["byOperator"][str(ledger["b"])] == 2
    province = _login(http, make_user, "province", division_code="340000")
    everything = http.get("/api/v1/anomalies/summary", params={"code": "INTAKE_UNKNOWN_PARTY"},
                          headers=province).json()
    assert everything["byOperator"].get("", 0) >= 1 and everything["byGroup"]["INTAKE"] == sum(
        everything["byOperator"].values())
