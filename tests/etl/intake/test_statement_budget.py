"""The intake's cost per message stays bounded: SQL statements per new document (issue 10.4, ≥ 400 messages/s).

Each statement is a round trip and a few hundred µs of Python and PostgreSQL CPU; a change that adds one per
message to the hot path (an ORM lazy load, a per-call statement) shows here before it shows in bench/exchange.py.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import select

from etl.intake import pipeline
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from store.models import DocumentVersion, FundFlowWaybill, Message, Outbox

DOC_NAMES = {"WLHY_YD1001": "电子运单上传", "WLHY_ZJ1001": "资金流水单上传", "WLHY_CL1001": "车辆基本信息上传",
             "WLHY_JSY1001": "驾驶员基本信息上传"}
# archive INSERT · lock · natural-key lock · document INSERT(s) · children · version · outbox · job · outcome UPDATE
# (plus SAVEPOINT/RELEASE around the processing, and BEGIN/COMMIT, not counted here).
# A new document: its lock, the merged INSERTs (etl.intake.documents), version + outbox + job, the outcome.
BUDGET = {"WLHY_CL1001": 6, "WLHY_JSY1001": 6, "WLHY_YD1001": 6, "WLHY_ZJ1001": 6}


def _payload(ipc_type: str) -> dict:
    if ipc_type == "WLHY_CL1001":
        return samples.vehicle()
    if ipc_type == "WLHY_JSY1001":
        return samples.driver()
    if ipc_type == "WLHY_YD1001":
        return samples.waybill()
    return samples.fund_flow()


@pytest.mark.parametrize("ipc_type", list(BUDGET))
def test_a_new_document_costs_a_bounded_number_of_statements(session, ipc_type, monkeypatch):
    operator = upsert_operator(session, samples.operator())
    session.flush()
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc_type],
              "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "wlhy-test",
              "messageSendingDateTime": "20240316093000", "ipcType": ipc_type}
    statements: list[str] = []
    real_execute, real_executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def note(query) -> None:
        # The test's session nests in a rolled-back transaction, where commits are savepoints: not counted.
        text = query if isinstance(query, str) else query.as_string(None) if hasattr(query, "as_string") else str(query)
        if text.split(None, 1)[0] not in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
            statements.append(" ".join(text.split()[:4]))

    def execute(self, query, *a, **k):  # every statement, whether through SQLAlchemy or straight to psycopg
        note(query)
        return real_execute(self, query, *a, **k)

    def executemany(self, query, *a, **k):
        note(query)
        return real_executemany(self, query, *a, **k)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    monkeypatch.setattr(psycopg.Cursor, "executemany", executemany)
    result = pipeline.receive(session, operator=operator, header=header, payload=json.dumps(_payload(ipc_type)))
    monkeypatch.undo()
    assert result.code == 1001, result.msg
    assert len(statements) <= BUDGET[ipc_type], statements
    # ... and the fast path still records everything: the archive row's outcome, the outbox row.
    msg = session.get(Message, result.message_id, populate_existing=True)
    assert (msg.result_code, msg.document_count) == (1001, 1)
    assert session.scalar(select(Outbox.document_id).where(Outbox.message_id == msg.id)) == \
        result.documents[0].document_id
    assert session.scalar(select(DocumentVersion.version).where(
        DocumentVersion.document_id == result.documents[0].document_id,
        DocumentVersion.kind == result.documents[0].kind)) == 1


def test_fund_flow_notes_are_stored_with_their_amounts_and_waybills(session):
    """The fund flow's notes go in as one statement: each note keeps its amount and finds its waybill."""
    operator = upsert_operator(session, samples.operator())
    session.flush()
    wb = samples.waybill()
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES["WLHY_YD1001"],
              "ipcType": "WLHY_YD1001", "enterpriseSenderCode": "wlhy-test"}
    waybill = pipeline.receive(session, operator=operator, header=header, payload=json.dumps(wb))
    ff = samples.fund_flow()
    ff["shippingNoteList"] = [dict(ff["shippingNoteList"][0], shippingNoteNumber=wb["shippingNoteNumber"],
                                   serialNumber=wb["serialNumber"], totalMonetaryAmount="1234.50"),
                              dict(ff["shippingNoteList"][0], shippingNoteNumber="NOTYETSENT01", serialNumber="0000",
                                   totalMonetaryAmount="10.00")]
    header = dict(header, messageReferenceNumber=uuid.uuid4().hex, documentName=DOC_NAMES["WLHY_ZJ1001"],
                  ipcType="WLHY_ZJ1001")
    flow = pipeline.receive(session, operator=operator, header=header, payload=json.dumps(ff))
    assert flow.code == 1001, flow.msg
    rows = session.execute(select(FundFlowWaybill.shipping_note_number, FundFlowWaybill.total_amount,
                                  FundFlowWaybill.waybill_id)
                           .where(FundFlowWaybill.fund_flow_id == flow.documents[0].document_id)
                           .order_by(FundFlowWaybill.id)).all()
    assert [tuple(r) for r in rows] == [
        (wb["shippingNoteNumber"], Decimal("1234.50"), waybill.documents[0].document_id),
        ("NOTYETSENT01", Decimal("10.00"), None)]
