"""Access authentication against the 运政 simulator, joint testing on the test channel, promotion (D1, D2)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import tests.api.conftest as conf
from etl.adapters import YunzhengClient
from etl.exchange import crypto
from etl.exchange.client import ExchangeClient
from etl.schemas import samples, usci_check_char
from simulation.servers.runner import serve
from store.models import Anomaly, Outbox


def _usci() -> str:
    body = "91340100" + uuid.uuid4().hex[:9].upper().replace("I", "1").replace("O", "0")
    body = "".join(c if c in "0123456789ABCDEFGHJKLMNPQRTUWXY" else "1" for c in body)
    return body + usci_check_char(body)


@pytest.fixture(scope="module")
def registry():
    with serve("yunzheng", None, port=0) as handle:
        yield handle


@pytest.fixture
def live(live_url, registry):
    conf.LIVE_APP.state.yunzheng = YunzhengClient(registry.url, timeout_s=2, retries=0)
    return live_url


def _licence(registry, usci, *, valid_to="20301231", status="valid"):
    permit = f"皖交运管许可合字{uuid.uuid4().int % 10**12:012d}号"
    r = httpx.post(f"{registry.url}/admin/records/operator_licences", json=[{
        "permitNumber": permit, "unifiedSocialCreditIdentifier": usci, "name": "合肥测试网络货运有限公司",
        "validFrom": "20200101", "validTo": valid_to, "status": status}])
    assert r.status_code < 300, r.text
    return permit


@pytest.fixture
def staff(http, make_user):
    username, password = make_user("admin")
    token = http.post("/api/v1/auth/login", json={"username": username, "password": password}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _apply(http, staff, usci, permit):
    return http.post("/api/v1/access-applications", headers=staff, json={
        "name": "合肥测试网络货运有限公司", "unifiedSocialCreditIdentifier": usci, "permitNumber": permit,
        "countrySubdivisionCode": "340104"})


def test_valid_licence_gets_a_sandbox_account_and_the_province_key(live, http, staff, registry):
    usci = _usci()
    r = _apply(http, staff, usci, _licence(registry, usci))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sandbox"] is True and body["userName"] and len(body["passWord"]) >= 16
    assert body["provincePublicKey"].startswith("04") and len(body["provincePublicKey"]) == 130
    # the one-time password works on the exchange
    auth = http.post("/exchange/auth", json={"userName": body["userName"], "passWord": body["passWord"]}).json()
    assert auth["code"] == 1001


@pytest.mark.parametrize("case,expect", [
    ("unknown", "not in the road-transport registry"),
    ("expired", "not valid on"),
    ("revoked", "revoked"),
    ("other_holder", "belongs to"),
    ("bad_checksum", "GB 32100"),
])
def test_refusals_say_why(live, http, staff, registry, case, expect):
    usci = _usci()
    permit = {
        "unknown": "皖交运管许可合字999999999999号",
        "expired": _licence(registry, usci, valid_to="20240101"),
        "revoked": _licence(registry, usci, status="revoked"),
        "other_holder": _licence(registry, _usci()),
        "bad_checksum": "x",
    }[case]
    if case == "bad_checksum":
        usci = usci[:-1] + ("0" if usci[-1] != "0" else "1")
    r = _apply(http, staff, usci, permit)
    assert r.status_code == 422
    reasons = " ".join(r.json()["detail"]["reasons"])
    assert expect in reasons


def test_registry_down_is_503_not_a_refusal(live, http, staff, registry):
    usci = _usci()
    permit = _licence(registry, usci)
    httpx.post(f"{registry.url}/admin/faults", json={"mode": "down"})
    try:
        r = _apply(http, staff, usci, permit)
    finally:
        httpx.post(f"{registry.url}/admin/faults", json={"mode": "ok"})
    assert r.status_code == 503 and "unavailable" in r.json()["detail"]


def test_only_staff_may_issue_accounts(live, http, make_user):
    username, password = make_user("analyst")
    token = http.post("/api/v1/auth/login", json={"username": username, "password": password}).json()["access_token"]
    r = http.post("/api/v1/access-applications", headers={"Authorization": f"Bearer {token}"},
                  json={"name": "x", "unifiedSocialCreditIdentifier": _usci(), "permitNumber": "p"})
    assert r.status_code == 403


def test_joint_test_report_then_promotion(live, http, staff, registry, engine):
    usci = _usci()
    granted = _apply(http, staff, usci, _licence(registry, usci)).json()
    jt = http.post("/api/v1/joint-tests", headers=staff, json={"userName": granted["userName"]})
    assert jt.status_code == 201 and jt.json()["passed"] is False and jt.json()["sent"] == 0
    client = ExchangeClient(live, granted["userName"], granted["passWord"], granted["provincePublicKey"])
    wb = samples.waybill()
    wb["unifiedSocialCreditIdentifier"] = usci
    wb["shippingNoteNumber"] = "YD" + uuid.uuid4().hex[:10]
    for ipc, payload in [("WLHY_CL1001", samples.vehicle()), ("WLHY_JSY1001", samples.driver()),
                         ("WLHY_YD1001", wb), ("WLHY_ZJ1001", samples.fund_flow()),
                         ("WLHY_WZ1001", samples.position_batch(recent=True))]:
        assert client.send(ipc, payload)["code"] == 1001
    client.weak = crypto.PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX
    assert client.send("WLHY_CL1001", samples.vehicle(), weak=True)["code"] == 1001
    report = http.get(f"/api/v1/joint-tests/{jt.json()['id']}", headers=staff).json()
    assert report["passed"] is True and report["errorRate"] == 0 and report["sent"] == 6
    assert report["types"]["WLHY_YD1001"] == {"sent": 1, "accepted": 1, "errors": []}
    assert report["weakEnvelopes"]["count"] == 1 and "random" in report["weakEnvelopes"]["howToFix"]
    with Session(engine) as s:  # the test channel stays out of production: no forwarding, no anomalies
        ops = s.execute(select(func.count()).select_from(Outbox).where(Outbox.document_kind == "waybill")).scalar()
        weak = s.scalar(select(func.count()).select_from(Anomaly).where(Anomaly.code == "SEC_WEAK_ENVELOPE",
                                                                        Anomaly.operator_id == granted["operatorId"]))
    assert weak == 0
    # an error makes the report fail with the reason and an example
    bad = samples.vehicle()
    bad["vehicleType"] = "ZZZ"
    assert client.send("WLHY_CL1001", bad)["code"] == 3005
    report = http.get(f"/api/v1/joint-tests/{jt.json()['id']}", headers=staff).json()
    assert report["passed"] is False and "error rate" in report["why"]
    (err,) = report["types"]["WLHY_CL1001"]["errors"]
    assert err["code"] == 3005 and err["examples"][0]["errors"][0]["field"] == "vehicleType"
    refused = http.post(f"/api/v1/joint-tests/{jt.json()['id']}/promote", headers=staff)
    assert refused.status_code == 409
    promoted = http.post(f"/api/v1/joint-tests/{jt.json()['id']}/promote", headers=staff, params={"force": True})
    assert promoted.json() == {"userName": granted["userName"], "mode": "production"}
    wb2 = wb | {"shippingNoteNumber": "YD" + uuid.uuid4().hex[:10]}
    assert client.send("WLHY_YD1001", wb2)["code"] == 1001
    with Session(engine) as s:
        after = s.execute(select(func.count()).select_from(Outbox).where(Outbox.document_kind == "waybill")).scalar()
    assert after == ops + 1  # production data is forwarded


def test_outbox_and_messages_are_listed_for_staff(live, http, staff):
    out = http.get("/api/v1/exchange/outbox", headers=staff)
    assert out.status_code == 200 and set(out.json()["backlog"]) >= {"by_status", "undelivered"}
    msgs = http.get("/api/v1/exchange/messages", headers=staff, params={"limit": 5}).json()
    assert msgs["limit"] == 5 and msgs["total"] >= len(msgs["items"])
