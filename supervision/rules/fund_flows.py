"""The fund-flow half of INTAKE_LATE (spec/RULES.md §1): a fund flow received more than the configured hours
(``rule_thresholds.intake_late_hours``, 24 by default) after its last payment's ``dateTime``.

The same notion as the waybill half (:mod:`supervision.rules.waybills`): *received* is when the province first
accepted the document (``fund_flow.received_at``), the last payment is the latest ``paid_at`` of the fund flow's
payment rows (``financiallist``). The anomaly sits on the fund flow itself — ``document_kind = 'fund_flow'``,
``document_key = 'fund_flow:<id>'``, ``document_id`` the fund flow's id — which is where the upload-timeliness
indicator (:mod:`supervision.indicators`) looks for it. A correction (a re-sent fund flow with other payment
times) is re-checked and resolves the anomaly when the cause is gone.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from store.anomalies import record, resolve
from supervision.rules.ledger import Ledger
from supervision.rules.waybills import Thresholds

__all__ = ["CODES", "KIND", "check_fund_flows", "document_key", "fund_flows_paying"]

CODES = ("INTAKE_LATE",)
KIND = "fund_flow"


def document_key(fund_flow_id: int) -> str:
    """The ledger key of a fund-flow-level anomaly."""
    return f"{KIND}:{fund_flow_id}"


_SQL = text("""
    SELECT f.id, f.operator_id, f.document_number, f.received_at,
           coalesce((SELECT max(p.paid_at) FROM fund_flow_payment p WHERE p.fund_flow_id = f.id), f.last_paid_at)
             AS last_paid_at
    FROM fund_flow f WHERE f.id = ANY(:ids) AND NOT f.is_sandbox
""")

_PAYING_SQL = text("""
    SELECT DISTINCT ffw.fund_flow_id FROM fund_flow_waybill ffw JOIN fund_flow f ON f.id = ffw.fund_flow_id
    WHERE ffw.waybill_id = ANY(:ids) AND NOT f.is_sandbox ORDER BY 1
""")


def fund_flows_paying(session: Session, waybill_ids: Sequence[int]) -> list[int]:
    """The production fund flows that pay any of these waybills."""
    if not waybill_ids:
        return []
    return list(session.scalars(_PAYING_SQL, {"ids": list(waybill_ids)}))


def check_fund_flows(session: Session, ids: Sequence[int], *, thresholds: Thresholds | None = None) -> dict[str, int]:
    """Check INTAKE_LATE on these fund flows and bring the ledger in line; returns how many fired per code.

    ``thresholds`` default to the configuration in force. Only what changes is written (a sweep re-checks fund
    flows whose anomaly stands as it was).
    """
    ids = sorted(set(ids))
    if not ids:
        return {}
    th = thresholds or Thresholds.in_force(session)
    due = th.late.total_seconds() / 3600
    rows = session.execute(_SQL, {"ids": ids}).all()
    ledger = Ledger(session, [document_key(r.id) for r in rows], CODES, kind=KIND)
    fired = 0
    for r in rows:
        key = document_key(r.id)
        late = r.last_paid_at is not None and r.received_at - r.last_paid_at > th.late
        if late:
            fired += 1
            hours = (r.received_at - r.last_paid_at).total_seconds() / 3600
            reason_zh = f"资金流水单 {r.document_number} 在最后一笔支付后 {hours:.1f} 小时才上传（应在 {due:g} 小时内）"
            reason_en = (f"fund flow {r.document_number} uploaded {hours:.1f} h after its last payment "
                         f"(due within {due:g} h)")
            evidence = {"numbers": {"fundFlow": r.document_number, "lastPaidAt": r.last_paid_at.isoformat(),
                                    "receivedAt": r.received_at.isoformat(), "hours": round(hours, 1),
                                    "dueWithinHours": due},
                        "configVersion": th.config_version}
            if not ledger.unchanged(key, "INTAKE_LATE", reason_en, evidence):
                record(session, "INTAKE_LATE", document_kind=KIND, document_key=key, operator_id=r.operator_id,
                       document_id=r.id, reason_zh=reason_zh, reason_en=reason_en, evidence=evidence)
        still = {"INTAKE_LATE"} if late else set()
        if ledger.needs_resolve(key, CODES, still):
            resolve(session, document_kind=KIND, document_key=key, codes=CODES, still_firing=still)
    return {"INTAKE_LATE": fired} if fired else {}
