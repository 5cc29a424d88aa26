"""The intake's merged statements (issue 10.4): fewer round trips per message, the same rows, the same guarantees.

A new document's rows go in with fewer statements (its shared row with a vehicle or driver report, a fund flow's
notes and payments with it, the version, outbox row and job in one); the processing savepoint is a raw one, and
what the ORM changes inside it (a correction) must still leave nothing behind when the processing fails.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from etl.intake import documents, pipeline
from etl.intake.documents import upsert_operator
from etl.schemas import samples, usci_check_char
from store.models import (
    DocumentVersion,
    FundFlowPayment,
    FundFlowWaybill,
    Job,
    Message,
    Vehicle,
    VehicleReport,
    Waybill,
    WaybillVehicle,
)

DOC_NAMES = {"WLHY_YD1001": "电子运单上传", "WLHY_ZJ1001": "资金流水单上传", "WLHY_CL1001": "车辆基本信息上传",
             "WLHY_JSY1001": "驾驶员基本信息上传"}
# archive INSERT · lock (with the repeated-C1 look-up when enveloped) · natural-key lock · document INSERT (with
# its shared row; its notes and payments; its one vehicle item and the link of earlier fund flows) · version +
# outbox + job · outcome UPDATE (plus SAVEPOINT, BEGIN and COMMIT, not counted here).


@pytest.fixture
def operator(session):
    op = upsert_operator(session, samples.operator())
    session.flush()
    return op


def send(session, operator, ipc_type, payload):
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc_type],
              "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "wlhy-test",
              "messageSendingDateTime": "20240316093000", "ipcType": ipc_type}
    return pipeline.receive(session, operator=operator, header=header, payload=json.dumps(payload))


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_new_fund_flow_keeps_its_notes_and_payments_in_order(session, operator):
    ff = samples.fund_flow()
    first = ff["financiallist"][0]
    ff["financiallist"] = [dict(first, sequenceCode=f"SEQ{k:04d}", monetaryAmount=str(100 + k) + ".25")
                           for k in range(3)]
    ff["shippingNoteList"] = [dict(ff["shippingNoteList"][0], shippingNoteNumber=f"NOTE{k:04d}",
                                   totalMonetaryAmount=f"{k}.50") for k in range(3)]
    res = send(session, operator, "WLHY_ZJ1001", ff)
    assert res.code == 1001, res.msg
    flow_id = res.documents[0].document_id
    pays = session.execute(select(FundFlowPayment.seq, FundFlowPayment.sequence_code, FundFlowPayment.amount,
                                  FundFlowPayment.paid_at)
                           .where(FundFlowPayment.fund_flow_id == flow_id).order_by(FundFlowPayment.id)).all()
    assert [(p.seq, p.sequence_code, p.amount) for p in pays] == [
        (k, f"SEQ{k:04d}", Decimal(f"{100 + k}.25")) for k in range(3)]
    assert all(p.paid_at.utcoffset() is not None for p in pays)
    notes = session.execute(select(FundFlowWaybill.shipping_note_number, FundFlowWaybill.total_amount)
                            .where(FundFlowWaybill.fund_flow_id == flow_id).order_by(FundFlowWaybill.id)).all()
    assert [tuple(n) for n in notes] == [(f"NOTE{k:04d}", Decimal(f"{k}.50")) for k in range(3)]
    # none of its notes' waybills has arrived: no document-rules job (as before: nothing to check yet)
    assert count(session, Job, Job.key == f"fund_flow:{flow_id}") == 0


def test_a_fund_flow_paying_a_known_waybill_queues_its_rules(session, operator):
    wb = samples.waybill()
    waybill = send(session, operator, "WLHY_YD1001", wb)
    ff = samples.fund_flow()
    ff["shippingNoteList"] = [dict(ff["shippingNoteList"][0], shippingNoteNumber=wb["shippingNoteNumber"],
                                   serialNumber=wb["serialNumber"])]
    flow = send(session, operator, "WLHY_ZJ1001", ff)
    job = session.scalars(select(Job).where(Job.key == f"fund_flow:{flow.documents[0].document_id}")).one()
    assert job.payload == {"waybill_ids": [waybill.documents[0].document_id]}


def test_a_vehicle_another_platform_reported_first_is_linked(session, operator):
    body = "9134010000" + "7654321"
    rival = upsert_operator(session, dict(samples.operator(), unifiedSocialCreditIdentifier=body + usci_check_char(body),
                                          name="rival"))
    session.flush()
    v = samples.vehicle()
    first = send(session, rival, "WLHY_CL1001", v)
    assert first.code == 1001, first.msg
    mine = send(session, operator, "WLHY_CL1001", dict(v, grossMass="31.00"))
    assert mine.code == 1001, mine.msg
    vehicle = session.scalars(select(Vehicle)).one()
    reports = session.scalars(select(VehicleReport).order_by(VehicleReport.id)).all()
    assert [r.vehicle_id for r in reports] == [vehicle.id, vehicle.id]
    assert vehicle.operator_id == rival.id and vehicle.version == 1  # the rival's row, untouched


def test_a_failed_correction_leaves_nothing_of_it(session, operator, monkeypatch):
    """The ORM changes a correction makes inside the raw savepoint are undone, not flushed by the outcome's commit."""
    wb = samples.waybill()
    first = send(session, operator, "WLHY_YD1001", wb)
    assert first.code == 1001, first.msg
    real = documents._add_waybill_vehicle

    def fails(*a, **k):  # after the corrected columns are set on the ORM row, before they are flushed
        raise RuntimeError("disk full")

    monkeypatch.setattr(documents, "_add_waybill_vehicle", fails)
    corrected = dict(wb, remark="corrected", totalMonetaryAmount="999.00")
    res = send(session, operator, "WLHY_YD1001", corrected)
    assert res.code == 9001
    assert session.get(Message, res.message_id, populate_existing=True).result_code == 9001
    session.expire_all()
    row = session.scalars(select(Waybill)).one()
    assert row.version == 1 and row.remark != "corrected" and row.total_amount != Decimal("999.00")
    assert count(session, DocumentVersion, DocumentVersion.kind == "waybill") == 1
    assert count(session, WaybillVehicle) == len(wb["vehicleInfo"])
    monkeypatch.setattr(documents, "_add_waybill_vehicle", real)
    again = send(session, operator, "WLHY_YD1001", corrected)
    assert again.code == 1001, again.msg
    session.expire_all()
    assert session.scalars(select(Waybill)).one().version == 2


def test_a_correction_whose_flush_fails_is_9001_and_leaves_nothing(session, operator, monkeypatch):
    """A database error in the ORM's flush of a correction (here: the shared vehicle row) is a 9001 like any other
    failure of processing: the session stays usable for the outcome, and nothing of the correction stays."""
    v = samples.vehicle()
    assert send(session, operator, "WLHY_CL1001", v).code == 1001
    real = documents._HANDLERS["vehicle"]

    def too_long_for_the_shared_row(p, op, is_sandbox):
        doc = real(p, op, is_sandbox)
        doc.shared.attrs["remark"] = "x" * 5000  # the report's own columns keep the valid value
        return doc

    monkeypatch.setitem(documents._HANDLERS, "vehicle", too_long_for_the_shared_row)
    res = send(session, operator, "WLHY_CL1001", dict(v, grossMass="33.00"))
    assert res.code == 9001
    monkeypatch.undo()
    session.expire_all()
    assert session.get(Message, res.message_id).result_code == 9001
    assert [r.version for r in session.scalars(select(VehicleReport))] == [1]
    assert session.scalars(select(Vehicle)).one().version == 1
    assert count(session, DocumentVersion, DocumentVersion.kind == "vehicle") == 1
