"""Role × resource × scope over real HTTP: each user reads only what its Scope allows, lists and details alike."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Message, Operator
from tests.api.conftest import login_as


@pytest.fixture(scope="module")
def two_counties(engine):
    """Operator A in 蜀山区 (340104), operator B in 瑶海区 (340102), one message each, one unattributed."""
    tag = uuid.uuid4().hex[:8]
    with Session(engine) as s:
        a = Operator(usci=f"91340104{tag}A", name="A", division_code="340104")
        b = Operator(usci=f"91340102{tag}B", name="B", division_code="340102")
        s.add_all([a, b])
        s.flush()
        msgs = [Message(operator_id=a.id, ipc_type=f"T{tag}", result_code=1001),
                Message(operator_id=b.id, ipc_type=f"T{tag}", result_code=1001),
                Message(operator_id=None, ipc_type=f"T{tag}", result_code=1002)]
        s.add_all(msgs)
        s.commit()
        return {"tag": f"T{tag}", "a": a.id, "b": b.id, "msgs": [m.id for m in msgs]}


def _login(http, make_user, role, **kw):
    return login_as(http, make_user, role, **kw)[1]


def _seen(http, headers, tag, **params):
    r = http.get("/api/v1/exchange/messages", params={"ipc_type": tag, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return sorted(m["operatorId"] or 0 for m in r.json()["items"])


def test_message_archive_by_role_and_scope(http, make_user, two_counties):
    t, a, b = two_counties["tag"], two_counties["a"], two_counties["b"]
    assert _seen(http, _login(http, make_user, "county", division_code="340104"), t) == [a]
    assert _seen(http, _login(http, make_user, "county", division_code="340102"), t) == [b]
    assert _seen(http, _login(http, make_user, "city", division_code="340100"), t) == sorted([a, b])
    assert _seen(http, _login(http, make_user, "city", division_code="340200"), t) == []      # 芜湖市
    assert _seen(http, _login(http, make_user, "province", division_code="340000"), t) == sorted([0, a, b])
    assert _seen(http, _login(http, make_user, "operator", operator_id=a), t) == [a]
    # asking for another platform's messages by filter still shows nothing of it
    assert _seen(http, _login(http, make_user, "operator", operator_id=a), t, operator_id=b) == []
    assert _seen(http, _login(http, make_user, "county", division_code="340104"), t, operator_id=b) == []


def test_outbox_is_for_province_wide_staff_only(http, make_user):
    assert http.get("/api/v1/exchange/outbox",
                    headers=_login(http, make_user, "county", division_code="340104")).status_code == 403
    assert http.get("/api/v1/exchange/outbox",
                    headers=_login(http, make_user, "province", division_code="340000")).status_code == 200


# --- the role × resource × scope matrix -------------------------------------------------------------------------

def _seed_operator(s, tag: str, county: str, letter: str) -> dict:
    """An operator in ``county`` with one waybill, the fund flow paying it and an anomaly on the waybill."""
    import json

    from etl.intake.pipeline import receive
    from etl.schemas import samples
    from store.anomalies import record
    from store.models import FundFlow, Waybill
    from tests.etl.intake.test_pipeline import DOC_NAMES

    op = Operator(usci=f"9134{county[2:]}{tag}{letter}0", name=letter, division_code=county)
    s.add(op)
    s.flush()
    note = f"M{tag}{letter}"
    waybill, flow = samples.waybill(), samples.fund_flow()
    waybill["shippingNoteNumber"] = note
    flow["documentNumber"] = f"F{tag}{letter}"
    for item in flow["shippingNoteList"]:
        item["shippingNoteNumber"] = note
    for ipc, payload in (("WLHY_YD1001", waybill), ("WLHY_ZJ1001", flow)):
        header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc],
                  "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "t",
                  "messageSendingDateTime": "20240316093000", "ipcType": ipc}
        assert receive(s, operator=op, header=header, payload=json.dumps(payload)).code == 1001
    wid = s.scalar(select(Waybill.id).where(Waybill.operator_id == op.id))
    fid = s.scalar(select(FundFlow.id).where(FundFlow.operator_id == op.id))
    aid = record(s, "MATCH_AMOUNT", document_kind="waybill", document_key=f"matrix:{wid}", operator_id=op.id,
                 document_id=wid, reason_zh="金额不一致", reason_en="amounts differ")
    return {"operator": op.id, "waybill": wid, "fund_flow": fid, "anomaly": aid}


@pytest.fixture(scope="module")
def matrix(engine):
    tag = uuid.uuid4().hex[:6].upper()
    with Session(engine) as s:
        out = {"A": _seed_operator(s, tag, "340104", "A"), "B": _seed_operator(s, tag, "340102", "B")}
        s.commit()
    return out


# (role, user's extra fields as a function of the seeded rows) → which operators' detail rows it may read
ROLES = {
    "admin": (lambda m: {}, {"A", "B"}),
    "province": (lambda m: {"division_code": "340000"}, {"A", "B"}),
    "city": (lambda m: {"division_code": "340100"}, {"A", "B"}),
    "county A": (lambda m: {"division_code": "340104"}, {"A"}),
    "county B": (lambda m: {"division_code": "340102"}, {"B"}),
    "city elsewhere": (lambda m: {"division_code": "340200"}, set()),
    "operator A": (lambda m: {"operator_id": m["A"]["operator"]}, {"A"}),
    "operator B": (lambda m: {"operator_id": m["B"]["operator"]}, {"B"}),
}
DETAILS = {"waybill": "/api/v1/waybills/{}", "fund_flow": "/api/v1/fund-flows/{}", "anomaly": "/api/v1/anomalies/{}",
           "trajectory": "/api/v1/waybills/{}/trajectory"}


@pytest.mark.parametrize("who", list(ROLES))
def test_no_detail_outside_scope(http, make_user, matrix, who):
    extra, visible = ROLES[who]
    role = who.split()[0]
    headers = _login(http, make_user, role, **extra(matrix))
    for letter in ("A", "B"):
        for kind, url in DETAILS.items():
            row = matrix[letter]["waybill" if kind == "trajectory" else kind]
            status = http.get(url.format(row), headers=headers).status_code
            assert status == (200 if letter in visible else 404), (who, letter, kind, status)


@pytest.mark.parametrize("who", list(ROLES))
def test_no_list_row_outside_scope(http, make_user, matrix, who):
    extra, visible = ROLES[who]
    headers = _login(http, make_user, who.split()[0], **extra(matrix))
    ids = {letter: matrix[letter]["operator"] for letter in "AB"}
    for url in ("/api/v1/waybills", "/api/v1/fund-flows", "/api/v1/anomalies"):
        r = http.get(url, params={"limit": 10_000}, headers=headers)
        assert r.status_code == 200, (who, url, r.text)
        seen = {letter for letter, op in ids.items() if any(i["operatorId"] == op for i in r.json()["items"])}
        assert seen == visible, (who, url, seen)


def test_analyst_reads_no_document_at_all(http, make_user, matrix):
    headers = _login(http, make_user, "analyst")
    for url in ("/api/v1/waybills", "/api/v1/fund-flows", "/api/v1/anomalies",
                f"/api/v1/waybills/{matrix['A']['waybill']}", f"/api/v1/waybills/{matrix['A']['waybill']}/trajectory"):
        assert http.get(url, headers=headers).status_code == 403, url


@pytest.mark.parametrize("who", list(ROLES))
def test_operators_in_scope_list_and_detail(http, make_user, matrix, who):
    extra, visible = ROLES[who]
    role = who.split()[0]
    headers = _login(http, make_user, role, **extra(matrix))
    items = http.get("/api/v1/operators", params={"limit": 10_000}, headers=headers).json()["items"]
    ids = {letter: matrix[letter]["operator"] for letter in "AB"}
    assert {letter for letter, op in ids.items() if any(i["id"] == op for i in items)} == visible, who
    for letter, op in ids.items():
        r = http.get(f"/api/v1/operators/{op}", headers=headers)
        assert r.status_code == (200 if letter in visible else 404), (who, letter)
        if r.status_code == 200:
            assert r.json()["waybills"] == 1 and r.json()["openAnomalies"] >= 1
