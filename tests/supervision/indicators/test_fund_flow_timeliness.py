"""Upload timeliness (spec/RULES.md §3: share of documents not INTAKE_LATE) counts fund flows as documents, with the
fund-flow INTAKE_LATE raised by the real rule (supervision.rules.fund_flows) — a small case computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import text

from auth.scope import Scope
from store.models import FundFlowPayment
from supervision.indicators import compute, explain, parse
from supervision.rules.fund_flows import check_fund_flows
from tests.supervision.indicators import factory as f

OCT = parse("2026-10")


def _paid_and_received(session, op, paid: dt.datetime, received_after_h: float):
    """A fund flow with one payment at ``paid``, received ``received_after_h`` hours later."""
    ff = f.fund_flow(session, op, paid)
    session.add(FundFlowPayment(fund_flow_id=ff.id, seq=1, payment_means_code="32", recipient="张三",
                                receipt_account="6222020200112345678", sequence_code=f"SEQ{ff.id}",
                                amount=Decimal(1000), paid_at=paid))
    session.execute(text("UPDATE fund_flow SET received_at = :t WHERE id = :i"),
                    {"t": paid + dt.timedelta(hours=received_after_h), "i": ff.id})
    session.flush()
    return ff


def _timeliness(session, op_id):
    [r] = compute(session, OCT, [op_id])
    return r.counts["upload_timeliness"], r.value("upload_timeliness")


def test_a_late_fund_flow_lowers_upload_timeliness_and_is_listed(session):
    op = f.operator(session, "庚平台")
    f.waybill(session, op, f.at("2026-10-03"))
    f.waybill(session, op, f.at("2026-10-04"))
    late = _paid_and_received(session, op, f.at("2026-10-05"), 30)
    twin = _paid_and_received(session, op, f.at("2026-10-06"), 23)
    _paid_and_received(session, op, f.at("2026-10-07"), 1)
    _paid_and_received(session, op, f.at("2026-11-01", 9), 30)   # paid in November: not an October document
    assert check_fund_flows(session, [late.id, twin.id]) == {"INTAKE_LATE": 1}
    # 2 waybills + 3 October fund flows = 5 documents; the one late fund flow is the only bad one: 4 / 5
    assert _timeliness(session, op.id) == ((4, 5), 80.0)
    page = explain(session, Scope.system(), op.id, "upload_timeliness", OCT)
    assert page["total"] == 1
    [item] = page["items"]
    assert (item["documentKind"], item["documentId"], item["label"]) == ("fund_flow", late.id, late.document_number)
    assert [a["code"] for a in item["anomalies"]] == ["INTAKE_LATE"]
    assert "30.0 h after its last payment" in item["anomalies"][0]["reasonEn"]
    # corrected: the payment was made 10 h later than first reported, so it arrived 20 h after it
    session.execute(text("UPDATE fund_flow_payment SET paid_at = paid_at + interval '10 hours' "
                         "WHERE fund_flow_id = :i"), {"i": late.id})
    session.execute(text("UPDATE fund_flow SET last_paid_at = last_paid_at + interval '10 hours' WHERE id = :i"),
                    {"i": late.id})
    assert check_fund_flows(session, [late.id]) == {}
    assert _timeliness(session, op.id) == ((5, 5), 100.0)
    assert explain(session, Scope.system(), op.id, "upload_timeliness", OCT)["total"] == 0
