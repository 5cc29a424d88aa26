"""GET /api/v1/waybills and /fund-flows over real HTTP: scope, masking, links both ways, CSV."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from etl.intake.pipeline import receive
from etl.schemas import samples
from store.models import AuditLog, Operator
from tests.api.conftest import login_as as _login
from tests.etl.intake.test_pipeline import DOC_NAMES


@pytest.fixture(scope="module")
def documents(engine):
    """One operator in 蜀山区 with a waybill (one vehicle, one driver) and the fund flow paying it."""
    tag = uuid.uuid4().hex[:6].upper()
    with Session(engine) as s:
        op = Operator(usci=f"91340104{tag}0000", name="丙", division_code="340104")
        s.add(op)
        s.flush()
        waybill = samples.waybill()
        note = f"WB{tag}"
        waybill["shippingNoteNumber"] = note
        flow = samples.fund_flow()
        flow["documentNumber"] = f"FF{tag}"
        for item in flow.get("shippingNoteList", []):
            item["shippingNoteNumber"] = note
        for ipc, payload in (("WLHY_YD1001", waybill), ("WLHY_ZJ1001", flow)):
            header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc],
                      "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "wlhy-test",
                      "messageSendingDateTime": "20240316093000", "ipcType": ipc}
            res = receive(s, operator=op, header=header, payload=json.dumps(payload))
            assert res.code == 1001, res
        s.commit()
        return {"operator": op.id, "note": note, "flow": f"FF{tag}"}



def _find(http, headers, documents):
    r = http.get("/api/v1/waybills", params={"shipping_note_number": documents["note"]}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_scope_and_masking_of_a_waybill(http, make_user, documents, engine):
    _, county = _login(http, make_user, "county", division_code="340104")
    [w] = _find(http, county, documents)
    detail = http.get(f"/api/v1/waybills/{w['id']}", headers=county).json()
    licence = detail["vehicles"][0]["drivers"][0]["drivingLicense"]
    assert "*" in licence and len(licence) == 18                   # a county sees ID numbers masked
    name, province = _login(http, make_user, "province", division_code="340000")
    clear = http.get(f"/api/v1/waybills/{w['id']}", headers=province).json()
    assert "*" not in clear["vehicles"][0]["drivers"][0]["drivingLicense"]
    with Session(engine) as s:                                       # ... and that read is audited
        assert s.scalar(select(AuditLog.target).where(AuditLog.username == name,
                                                      AuditLog.action == "read_personal_data")) == f"waybill:{w['id']}"
    _, elsewhere = _login(http, make_user, "county", division_code="340102")
    assert _find(http, elsewhere, documents) == []
    assert http.get(f"/api/v1/waybills/{w['id']}", headers=elsewhere).status_code == 404
    _, analyst = _login(http, make_user, "analyst")
    assert http.get("/api/v1/waybills", headers=analyst).status_code == 403


def test_waybill_and_fund_flow_link_both_ways(http, make_user, documents):
    _, op = _login(http, make_user, "operator", operator_id=documents["operator"])
    [w] = _find(http, op, documents)
    detail = http.get(f"/api/v1/waybills/{w['id']}", headers=op).json()
    [link] = detail["fundFlows"]
    flow = http.get(f"/api/v1/fund-flows/{link['id']}", headers=op).json()
    assert flow["documentNumber"] == documents["flow"]
    assert [x["waybillId"] for x in flow["waybills"]] == [w["id"]]
    _, county = _login(http, make_user, "county", division_code="340104")
    masked = http.get(f"/api/v1/fund-flows/{link['id']}", headers=county).json()
    assert all("*" in p["receiptAccount"] for p in masked["payments"])


def test_lists_as_csv(http, make_user, documents):
    _, admin = _login(http, make_user, "admin")
    r = http.get("/api/v1/fund-flows", params={"document_number": documents["flow"], "format": "csv"}, headers=admin)
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert r.content.startswith("\ufeff".encode()) and [x["documentNumber"] for x in rows] == [documents["flow"]]
    assert http.get("/api/v1/waybills", params={"sort": "bogus"}, headers=admin).status_code == 422
