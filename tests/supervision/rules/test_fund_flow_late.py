"""INTAKE_LATE on fund flows (spec/RULES.md §1: "fund flow > 24 h after its last payment dateTime") on a real
PostGIS, through intake's queued job and through the daily sweep: the late fund flow is flagged on the fund flow
itself, its twin paid 23 h before receipt is not, and a correction with other payment times clears it."""

from __future__ import annotations

import copy
import datetime as dt

from sqlalchemy import select, text

from etl.schemas import samples
from store.jobs import KIND_DOCUMENT_RULES
from store.models import Anomaly, FundFlow, Job
from supervision import configuration
from supervision.rules.fund_flows import check_fund_flows
from supervision.rules.jobs import rules_handlers
from supervision.rules.sweep import sweep
from supervision.rules.waybills import Thresholds
from tests.supervision.rules.conftest import send, send_waybill

PAID = "20240316095500"  # the sample's payment time, Beijing: 2024-03-16 01:55 UTC
PAID_AT = dt.datetime(2024, 3, 16, 1, 55, tzinfo=dt.UTC)
NOW = dt.datetime(2024, 3, 20, tzinfo=dt.UTC)


def _fund_flow(session, operator, number: str, note: str, received_after_h: float, paid: str = PAID) -> int:
    """A fund flow through intake paying ``note``, then received ``received_after_h`` hours after its payment."""
    f = copy.deepcopy(samples.fund_flow())
    f["documentNumber"] = number
    f["shippingNoteList"][0]["shippingNoteNumber"] = note
    f["financiallist"][0]["sequenceCode"] = "SEQ-" + number
    f["financiallist"][0]["dateTime"] = paid
    send(session, operator, "WLHY_ZJ1001", f)
    fid = session.scalar(select(FundFlow.id).where(FundFlow.operator_id == operator.id,
                                                   FundFlow.document_number == number))
    # intake stamps the real arrival (today); the case needs the arrival relative to the 2024 payment
    session.execute(text("UPDATE fund_flow SET received_at = :t WHERE id = :i"),
                    {"t": PAID_AT + dt.timedelta(hours=received_after_h), "i": fid})
    return fid


def _queued(session, fid: int) -> dict:
    """The document-rules job intake queued for this fund flow (the waybills it pays)."""
    return session.scalar(select(Job.payload).where(Job.kind == KIND_DOCUMENT_RULES, Job.key == f"fund_flow:{fid}",
                                                    Job.status == "pending"))


def _ledger(session, fid: int) -> list[Anomaly]:
    session.expire_all()
    return list(session.scalars(select(Anomaly).where(Anomaly.document_kind == "fund_flow",
                                                      Anomaly.document_key == f"fund_flow:{fid}")))


def _case(session, operator):
    send_waybill(session, operator, note="YD20240315000201")
    send_waybill(session, operator, note="YD20240315000202")
    # the waybills themselves on time (so that the only INTAKE_LATE is the fund flow's)
    session.execute(text("UPDATE waybill SET received_at = send_to_pro_at + interval '10 minutes' "
                         "WHERE operator_id = :o"), {"o": operator.id})
    late = _fund_flow(session, operator, "ZJLATE0001", "YD20240315000201", received_after_h=30)
    twin = _fund_flow(session, operator, "ZJTWIN0001", "YD20240315000202", received_after_h=23)
    return late, twin


def test_the_queued_job_flags_the_late_fund_flow_and_not_its_twin(session, operator, sims, make_registries):
    late, twin = _case(session, operator)
    handle = rules_handlers(make_registries())[KIND_DOCUMENT_RULES]
    fired = handle(session, _queued(session, late))
    handle(session, _queued(session, twin))
    assert fired["INTAKE_LATE"] == 1
    [a] = _ledger(session, late)
    assert (a.code, a.status, a.document_id, a.operator_id) == ("INTAKE_LATE", "open", late, operator.id)
    assert a.evidence["numbers"]["hours"] == 30.0 and a.evidence["numbers"]["dueWithinHours"] == 24
    assert a.evidence["numbers"]["lastPaidAt"] == PAID_AT.isoformat()
    assert a.evidence["configVersion"] == configuration.current(session).version
    assert "30.0 小时" in a.reason_zh and "24 小时内" in a.reason_zh and "ZJLATE0001" in a.reason_zh
    assert "30.0 h after its last payment (due within 24 h)" in a.reason_en
    assert _ledger(session, twin) == []
    handle(session, _queued(session, late))                       # a second run: still one anomaly, unchanged
    [again] = _ledger(session, late)
    assert (again.id, again.status, again.reason_en) == (a.id, "open", a.reason_en)


def test_a_correction_with_a_later_payment_time_clears_it(session, operator, sims, make_registries):
    late, _ = _case(session, operator)
    handle = rules_handlers(make_registries())[KIND_DOCUMENT_RULES]
    handle(session, _queued(session, late))
    assert [a.status for a in _ledger(session, late)] == ["open"]
    session.execute(text("DELETE FROM job WHERE key = :k"), {"k": f"fund_flow:{late}"})
    # the platform re-sends the fund flow: the payment was made 20 h later than first said (received 10 h after it)
    again = _fund_flow(session, operator, "ZJLATE0001", "YD20240315000201", received_after_h=30,
                       paid="20240317055500")
    assert again == late
    handle(session, _queued(session, late))                       # the correction's own job
    [a] = _ledger(session, late)
    assert a.status == "resolved" and a.resolved_at is not None


def test_the_threshold_comes_from_the_configuration_given(session, operator):
    late, _ = _case(session, operator)
    assert check_fund_flows(session, [late], thresholds=Thresholds(late=dt.timedelta(hours=48), config_version=7)) \
        == {}
    assert _ledger(session, late) == []
    check_fund_flows(session, [late], thresholds=Thresholds(late=dt.timedelta(hours=12), config_version=7))
    [a] = _ledger(session, late)
    assert a.evidence["configVersion"] == 7 and a.evidence["numbers"]["dueWithinHours"] == 12
    assert "due within 12 h" in a.reason_en


def test_the_daily_sweep_checks_the_fund_flows_last_paid_on_its_days(session, operator, sims, make_registries):
    late, twin = _case(session, operator)
    reg = make_registries()
    assert sweep(session, dt.date(2024, 3, 17), dt.date(2024, 3, 18), now=NOW, registries=reg).get(
        "INTAKE_LATE", 0) == 0                                     # paid on the 16th (Beijing): not these days
    assert _ledger(session, late) == []
    seen = []
    fired = sweep(session, dt.date(2024, 3, 16), dt.date(2024, 3, 16), now=NOW, registries=reg,
                  progress=lambda done, total: seen.append((done, total)))
    assert fired["INTAKE_LATE"] >= 1
    assert [(a.code, a.status) for a in _ledger(session, late)] == [("INTAKE_LATE", "open")]
    assert _ledger(session, twin) == []
    assert seen and seen[-1][0] == seen[-1][1]
    # the payment time corrected in place, 7 h later, still on the 16th (received 23 h after it): resolved
    session.execute(text("UPDATE fund_flow_payment SET paid_at = paid_at + interval '7 hours' "
                         "WHERE fund_flow_id = :i"), {"i": late})
    session.execute(text("UPDATE fund_flow SET last_paid_at = last_paid_at + interval '7 hours' WHERE id = :i"),
                    {"i": late})
    sweep(session, dt.date(2024, 3, 16), dt.date(2024, 3, 16), now=NOW, registries=reg)
    assert [a.status for a in _ledger(session, late)] == ["resolved"]


def test_a_sandbox_fund_flow_is_not_checked(session, operator):
    late, _ = _case(session, operator)
    session.execute(text("UPDATE fund_flow SET is_sandbox = true WHERE id = :i"), {"i": late})
    assert check_fund_flows(session, [late]) == {}
    assert _ledger(session, late) == []


def test_a_fund_flow_ahead_of_its_waybill_is_checked_by_the_waybills_job(session, operator, sims, make_registries):
    early = _fund_flow(session, operator, "ZJEARLY001", "YD20240315000203", received_after_h=40)
    assert _queued(session, early) is None                       # it pays no known waybill yet: nothing queued
    wid = send_waybill(session, operator, note="YD20240315000203")
    payload = session.scalar(select(Job.payload).where(Job.kind == KIND_DOCUMENT_RULES, Job.key == f"waybill:{wid}"))
    rules_handlers(make_registries())[KIND_DOCUMENT_RULES](session, payload)
    [a] = _ledger(session, early)
    assert (a.code, a.status, a.evidence["numbers"]["hours"]) == ("INTAKE_LATE", "open", 40.0)
