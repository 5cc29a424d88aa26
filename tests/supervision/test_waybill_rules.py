"""INTAKE_LATE, INTAKE_TIME_ORDER and MATCH_* on a real PostGIS: each rule fires on its crafted case, not on the
clean twin, and resolves by itself when a correction or a late document removes the cause."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select, text

from etl.intake import pipeline
from etl.schemas import samples
from store.models import Anomaly, Waybill
from supervision.rules.waybills import check_waybills
from tests.etl.intake.test_pipeline import DOC_NAMES

NOW = dt.datetime(2024, 3, 20, tzinfo=dt.timezone.utc)  # a few days after the sample's receipt


def _send(session, operator, ipc, payload):
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc],
              "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "t",
              "messageSendingDateTime": "20240316093000", "ipcType": ipc}
    res = pipeline.receive(session, operator=operator, header=header, payload=json.dumps(payload))
    assert res.code == 1001, res


def _waybill(session, operator, note="YD20240315000123", **changes) -> int:
    w = copy.deepcopy(samples.waybill())
    w["shippingNoteNumber"] = note
    w.update(changes)
    _send(session, operator, "WLHY_YD1001", w)
    wid = session.scalar(select(Waybill.id).where(Waybill.operator_id == operator.id,
                                                  Waybill.shipping_note_number == note))
    # received ten minutes after it was sent to the platform (the sample's times are of 2024)
    session.execute(text("UPDATE waybill SET received_at = send_to_pro_at + interval '10 minutes' WHERE id = :i"),
                    {"i": wid})
    return wid


def _fund_flow(session, operator, note="YD20240315000123", number="ZJ20240316000045", amount=3500,
               sequence="2024031610000012345", vehicle="皖A12345"):
    f = copy.deepcopy(samples.fund_flow())
    f["documentNumber"] = number
    f["vehicleNumber"] = vehicle
    f["shippingNoteList"][0]["shippingNoteNumber"] = note
    f["financiallist"][0]["monetaryAmount"] = amount
    f["financiallist"][0]["sequenceCode"] = sequence
    _send(session, operator, "WLHY_ZJ1001", f)


def _open(session, wid) -> set[str]:
    return set(session.scalars(select(Anomaly.code).where(Anomaly.document_key == f"waybill:{wid}",
                                                          Anomaly.status == "open")))


def test_clean_waybill_with_its_fund_flow_fires_nothing(session, operator):
    wid = _waybill(session, operator)
    _fund_flow(session, operator)
    check_waybills(session, [wid], now=NOW)
    assert _open(session, wid) == set()


def test_late_upload_fires_and_a_timely_one_does_not(session, operator):
    wid = _waybill(session, operator)
    _fund_flow(session, operator)
    session.execute(text("UPDATE waybill SET received_at = receipt_at + interval '30 hours' WHERE id = :i"),
                    {"i": wid})
    check_waybills(session, [wid], now=NOW)
    [a] = session.scalars(select(Anomaly).where(Anomaly.document_key == f"waybill:{wid}")).all()
    assert a.code == "INTAKE_LATE" and a.evidence["numbers"]["hours"] == 30.0 and "30.0" in a.reason_zh
    session.execute(text("UPDATE waybill SET received_at = receipt_at + interval '23 hours' WHERE id = :i"),
                    {"i": wid})
    check_waybills(session, [wid], now=NOW)
    assert _open(session, wid) == set()


def test_times_out_of_order(session, operator):
    wid = _waybill(session, operator, despatchActualDateTime="20240315190000")  # after the receipt at 18:00
    _fund_flow(session, operator)
    check_waybills(session, [wid], now=NOW)
    assert _open(session, wid) == {"INTAKE_TIME_ORDER"}
    [a] = session.scalars(select(Anomaly).where(Anomaly.document_key == f"waybill:{wid}")).all()
    assert a.evidence["numbers"]["broken"] == ["despatch>receipt"]


def test_no_fund_flow_after_30_days_and_a_late_one_clears_it(session, operator):
    wid = _waybill(session, operator)
    check_waybills(session, [wid], now=NOW)                                    # 5 days: not yet
    assert _open(session, wid) == set()
    check_waybills(session, [wid], now=NOW + dt.timedelta(days=30))
    assert _open(session, wid) == {"MATCH_NO_FUND_FLOW"}
    _fund_flow(session, operator)                                              # arrives late
    check_waybills(session, [wid], now=NOW + dt.timedelta(days=31))
    assert _open(session, wid) == set()
    assert session.scalar(select(Anomaly.status).where(Anomaly.document_key == f"waybill:{wid}")) == "resolved"


@pytest.mark.parametrize(("paid", "fires"), [(3150, True), (3490, False), (3499.5, False), (3600, True)])
def test_amount_must_match_within_one_percent(session, operator, paid, fires):
    wid = _waybill(session, operator)
    _fund_flow(session, operator, amount=paid)
    check_waybills(session, [wid], now=NOW)
    assert ("MATCH_AMOUNT" in _open(session, wid)) is fires


def test_fund_flow_for_another_vehicle(session, operator):
    wid = _waybill(session, operator)
    _fund_flow(session, operator, vehicle="皖A99999")
    check_waybills(session, [wid], now=NOW)
    assert _open(session, wid) == {"MATCH_PARTY"}


def test_a_reused_bank_serial_flags_the_later_waybill_only(session, operator):
    first = _waybill(session, operator, note="YD20240315000001")
    _fund_flow(session, operator, note="YD20240315000001", number="ZJ1", sequence="SEQ-1")
    second = _waybill(session, operator, note="YD20240315000002")
    _fund_flow(session, operator, note="YD20240315000002", number="ZJ2", sequence="SEQ-1")
    session.execute(text("UPDATE fund_flow SET received_at = received_at + interval '1 hour' "
                         "WHERE document_number = 'ZJ2'"))
    check_waybills(session, [first, second], now=NOW)
    assert _open(session, first) == set()
    assert _open(session, second) == {"MATCH_CASH_OR_REUSED_SERIAL"}
    [a] = session.scalars(select(Anomaly).where(Anomaly.document_key == f"waybill:{second}")).all()
    assert a.evidence["numbers"]["otherWaybillIds"] == [first]


def test_the_daily_sweep_checks_the_waybills_received_in_its_range(session, operator):
    from supervision.rules.sweep import sweep

    wid = _waybill(session, operator)                      # goods receipt 2024-03-15 18:00 Beijing, no fund flow
    seen = []
    assert sweep(session, dt.date(2024, 3, 16), dt.date(2024, 3, 20), now=NOW + dt.timedelta(days=40)) == {}
    fired = sweep(session, dt.date(2024, 3, 15), dt.date(2024, 3, 15), now=NOW + dt.timedelta(days=40),
                  progress=lambda done, total: seen.append((done, total)))
    assert fired.get("MATCH_NO_FUND_FLOW", 0) >= 1 and "MATCH_NO_FUND_FLOW" in _open(session, wid)
    assert seen and seen[-1][0] == seen[-1][1]


def test_the_queued_document_check_runs_the_rules(session, operator):
    from store.jobs import KIND_DOCUMENT_RULES
    from supervision.rules.jobs import rules_handlers

    wid = _waybill(session, operator)
    session.execute(text("UPDATE waybill SET received_at = receipt_at + interval '30 hours' WHERE id = :i"),
                    {"i": wid})
    fired = rules_handlers()[KIND_DOCUMENT_RULES](session, {"waybill_ids": [wid]})
    assert fired["INTAKE_LATE"] == 1 and "INTAKE_LATE" in _open(session, wid)


def test_intake_queues_the_rules_for_a_waybill_and_for_the_waybills_a_fund_flow_pays(session, operator):
    from store.jobs import KIND_DOCUMENT_RULES
    from store.models import Job

    wid = _waybill(session, operator)
    _fund_flow(session, operator)
    jobs = {j.key: j.payload for j in session.scalars(select(Job).where(Job.kind == KIND_DOCUMENT_RULES,
                                                                         Job.status == "pending"))}
    assert jobs[f"waybill:{wid}"] == {"waybill_ids": [wid]}
    [paid] = [p for k, p in jobs.items() if k.startswith("fund_flow:")]
    assert paid == {"waybill_ids": [wid]}
