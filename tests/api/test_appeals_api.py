"""Appeals over real HTTP with the 运政 simulator behind the app: an operator appeals its QUAL_* anomaly with a
statement and an evidence file; the registry decides (overturned here, upheld by the tick at the due date);
scope per role, wrong roles and wrong anomalies refused; attachments never served to another operator; CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os

import httpx
import pytest
from sqlalchemy.orm import Session

import tests.api.conftest as conf
from core.config import get_settings
from etl.adapters import YunzhengClient
from simulation.servers.runner import serve
from store.models import Anomaly, Appeal
from supervision.appeals import service
from tests.api.conftest import login_as
from tests.supervision.alarms.helpers import flag, operator, waybills

PDF = b"%PDF-1.4\n% evidence\n%%EOF\n"


@pytest.fixture(autouse=True, scope="module")
def attachments_in_tmp(tmp_path_factory):
    os.environ["WLHY_ATTACHMENTS_DIR"] = str(tmp_path_factory.mktemp("appeal-attachments"))
    get_settings.cache_clear()
    yield
    del os.environ["WLHY_ATTACHMENTS_DIR"]
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def registry():
    with serve("yunzheng", None, port=0) as handle:
        yield handle


@pytest.fixture
def live(live_url, registry):
    before = conf.LIVE_APP.state.yunzheng
    conf.LIVE_APP.state.yunzheng = YunzhengClient(registry.url, timeout_s=2, retries=0)
    yield live_url
    conf.LIVE_APP.state.yunzheng = before


@pytest.fixture
def case(engine):
    """Operator A (340104) with two QUAL_OPERATOR_PERMIT anomalies and a TRACK one; operator B with none."""
    with Session(engine, expire_on_commit=False) as s:
        a, b = operator(s, "340104", "甲平台"), operator(s, "340102", "乙平台")
        w = waybills(s, a, 3)
        q1, q2 = flag(s, a, w[:2], code="QUAL_OPERATOR_PERMIT")
        [track] = flag(s, a, w[2:], code="TRACK_MISSING")
        s.commit()
    return {"a": a, "b": b, "q1": q1, "q2": q2, "track": track}


def _licence(registry, op, valid_to="20301231"):
    r = httpx.post(f"{registry.url}/admin/records/operator_licences", json=[{
        "permitNumber": op.permit_number, "unifiedSocialCreditIdentifier": op.usci, "name": op.name,
        "validFrom": "20200101", "validTo": valid_to, "status": "valid"}])
    assert r.status_code < 300


def test_an_appeal_overturned_by_the_registry_and_who_sees_it(http, make_user, live, registry, case, engine):
    op_a = login_as(http, make_user, "operator", operator_id=case["a"].id)[1]
    _licence(registry, case["a"])
    r = http.post("/api/v1/appeals", headers=op_a, data={"anomalyId": str(case["q1"]), "statement": "许可证有效"},
                  files=[("files", ("许可证.pdf", PDF, "application/pdf"))])
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["outcome"], body["anomalyStatus"]) == ("decided", "overturned", "overturned")
    assert body["comparisons"][0]["checks"][0]["validOnDay"] is True
    digest = body["attachments"][0]["digest"]
    # the anomaly list says overturned too
    assert http.get(f"/api/v1/anomalies/{case['q1']}", headers=op_a).json()["status"] == "overturned"
    # scope: the county sees it, another operator and another county do not, an analyst is refused
    county = login_as(http, make_user, "county", division_code="340104")[1]
    assert http.get(f"/api/v1/appeals/{body['id']}", headers=county).status_code == 200
    op_b = login_as(http, make_user, "operator", operator_id=case["b"].id)[1]
    assert http.get(f"/api/v1/appeals/{body['id']}", headers=op_b).status_code == 404
    assert body["id"] not in [x["id"] for x in http.get("/api/v1/appeals", headers=op_b).json()["items"]]
    other_county = login_as(http, make_user, "county", division_code="340102")[1]
    assert http.get(f"/api/v1/appeals/{body['id']}", headers=other_county).status_code == 404
    assert http.get("/api/v1/appeals", headers=login_as(http, make_user, "analyst")[1]).status_code == 403
    # the evidence file: its operator and regulator, never another operator
    url = f"/api/v1/appeals/{body['id']}/attachments/{digest}"
    assert http.get(url, headers=op_a).content == PDF
    assert http.get(url, headers=county).status_code == 200
    assert http.get(url, headers=op_b).status_code == 404
    # CSV
    r = http.get("/api/v1/appeals", params={"format": "csv", "limit": 1000}, headers=county)
    rows = [x for x in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))) if x["id"] == str(body["id"])]
    assert rows[0]["outcome"] == "overturned" and rows[0]["code"] == "QUAL_OPERATOR_PERMIT"


def test_an_appeal_upheld_at_the_due_date_and_the_refusals(http, make_user, live, registry, case, engine):
    op_a = login_as(http, make_user, "operator", operator_id=case["a"].id)[1]
    op_b = login_as(http, make_user, "operator", operator_id=case["b"].id)[1]
    county = login_as(http, make_user, "county", division_code="340104")[1]
    assert http.post("/api/v1/appeals", headers=op_b,
                     json={"anomalyId": case["q2"], "statement": "s"}).status_code == 404  # not its anomaly
    assert http.post("/api/v1/appeals", headers=county,
                     json={"anomalyId": case["q2"], "statement": "s"}).status_code == 403  # operators appeal
    assert http.post("/api/v1/appeals", headers=op_a,
                     json={"anomalyId": case["track"], "statement": "s"}).status_code == 422  # QUAL_* only
    r = http.post("/api/v1/appeals", headers=op_a, data={"anomalyId": str(case["q2"]), "statement": "s"},
                  files=[("files", ("x.pdf", b"#!/bin/sh\nrm -rf /\n", "application/pdf"))])
    assert r.status_code == 422  # evidence checked by content
    # no licence in the registry: pending after filing, a second appeal conflicts
    r = http.post("/api/v1/appeals", headers=op_a, json={"anomalyId": case["q2"], "statement": "我们有许可证"})
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    appeal_id = r.json()["id"]
    assert http.post("/api/v1/appeals", headers=op_a,
                     json={"anomalyId": case["q2"], "statement": "again"}).status_code == 409
    # the due date passes (the tick decides with the registry's answer): upheld
    with Session(engine) as s, YunzhengClient(registry.url, timeout_s=2, retries=0) as yz:
        due = s.get(Appeal, appeal_id).due_at
        out = service.decide_due(s, yz, now=due + dt.timedelta(hours=1))
        s.commit()
        assert appeal_id in out.upheld
        assert s.get(Anomaly, case["q2"]).status == "upheld"
    r = http.get(f"/api/v1/appeals/{appeal_id}", headers=op_a).json()
    assert (r["status"], r["outcome"], r["outcomeZh"]) == ("decided", "upheld", "申诉不成立，维持异常")
