"""INTAKE_UNKNOWN_PARTY: a waybill naming a vehicle or driver its own platform never reported fires — a rival
platform's report of the same truck or person does not count — and the platform's own late report resolves it
through the queued document check."""

from __future__ import annotations

from sqlalchemy import select

from store.jobs import KIND_DOCUMENT_RULES
from store.models import Job, Operator
from supervision.rules.jobs import run_document_rules
from supervision.rules.parties import check_parties
from tests.supervision.rules.conftest import (
    DRIVER_ID,
    PLATE,
    anomalies,
    open_codes,
    report_driver,
    report_vehicle,
    send_waybill,
)

CODE = "INTAKE_UNKNOWN_PARTY"


def _rival(session) -> Operator:
    rival = Operator(usci="91340100MA2TEST01X", name="另一平台", division_code="340102")
    session.add(rival)
    session.flush()
    return rival


def _pending_job(session, prefix):
    return session.scalars(select(Job).where(Job.kind == KIND_DOCUMENT_RULES, Job.key.like(f"{prefix}:%"),
                                             Job.status == "pending").order_by(Job.id.desc())).first()


def test_parties_reported_by_the_waybills_own_platform_are_known(session, operator):
    report_vehicle(session, operator)
    report_driver(session, operator)
    wid = send_waybill(session, operator)
    assert check_parties(session, [wid]) == 0 and CODE not in open_codes(session, wid)


def test_a_rivals_report_does_not_count_and_the_own_late_report_resolves(session, operator, sims,
                                                                         make_registries):
    rival = _rival(session)
    report_vehicle(session, rival)                 # the rival reports the truck and the driver …
    report_driver(session, rival)
    wid = send_waybill(session, operator)          # … but the waybill's own platform reported neither
    assert check_parties(session, [wid]) == 1
    a = anomalies(session, wid)[CODE]
    assert a.status == "open" and PLATE in a.reason_zh and "WLHY_CL1001" in a.reason_en
    assert a.evidence["numbers"]["vehicles"] == [f"{PLATE}/2"]
    assert a.evidence["numbers"]["drivers"] == ["3401**********0013"] and DRIVER_ID not in a.reason_zh
    assert set(a.evidence["numbers"]["reportedOnlyByOtherPlatforms"]) == {f"{PLATE}/2", "3401**********0013"}

    reg = make_registries()
    report_vehicle(session, operator)              # the platform's own vehicle report arrives late
    run_document_rules(session, _pending_job(session, "vehicle").payload, reg)
    a = anomalies(session, wid)[CODE]
    assert a.status == "open" and a.evidence["numbers"]["vehicles"] == []   # only the driver is still unknown
    report_driver(session, operator)
    run_document_rules(session, _pending_job(session, "driver").payload, reg)
    assert anomalies(session, wid)[CODE].status == "resolved"


def test_an_unreported_vehicle_is_not_judged_on_qualifications(session, operator, sims, make_registries):
    # its mass is unknown: the unknown party is the anomaly, not a guessed certificate problem
    report_driver(session, operator)
    wid = send_waybill(session, operator, plate="皖A99999")
    out = run_document_rules(session, {"waybill_ids": [wid]}, make_registries())
    assert out[CODE] == 1 and not ({"QUAL_VEHICLE_CERT", "VEHICLE_NOT_IN_NETWORK"} & open_codes(session, wid))
