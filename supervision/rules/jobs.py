"""The document rules on the job queue: intake queues a check per accepted waybill or fund flow, and per vehicle or
driver report (off the acknowledgement's hot path); the worker runs it with this handler.

Payloads: ``{"waybill_ids": […]}`` runs every document rule on those waybills, and the fund-flow rule
(INTAKE_LATE, :mod:`supervision.rules.fund_flows`) on the fund flows paying them — intake queues the waybills a new
fund flow pays, so this is where a new or corrected fund flow is checked (``{"fund_flow_ids": […]}`` names fund flows
directly; one paying no known waybill yet is checked by the daily sweep); ``{"vehicle_report_ids": […]}`` /
``{"driver_report_ids": […]}`` re-checks the waybills of the reporting platform that name the reported vehicle or
driver (a late or corrected report resolves INTAKE_UNKNOWN_PARTY and the QUAL_* it caused);
``"registry_only": true`` (the retry after a registry outage, with its ``attempt``) runs only the registry rules.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from store.jobs import KIND_DOCUMENT_RULES, Handler
from supervision.rules.duplicates import check_duplicates
from supervision.rules.fund_flows import check_fund_flows, fund_flows_paying
from supervision.rules.parties import CODE as UNKNOWN_PARTY
from supervision.rules.parties import check_parties
from supervision.rules.qualifications import check_qualifications
from supervision.rules.registry import Registries
from supervision.rules.waybills import check_waybills

__all__ = ["REPORT_RECHECK_DAYS", "rules_handlers", "waybills_naming_reports"]

#: A new vehicle or driver report re-checks its platform's waybills despatched this many days back, and any older
#: one with an anomaly the report may clear.
REPORT_RECHECK_DAYS = 30
_RECHECK_LIMIT = 5000

#: The platform's waybills of those reports: despatched recently, or older with an anomaly the report may clear.
_RECENT_OR_FLAGGED = """
        WHERE r.id = ANY(:ids) AND NOT r.is_sandbox
          AND (w.despatch_at > now() - make_interval(days => :days)
               OR EXISTS (SELECT 1 FROM anomaly a WHERE a.document_kind = 'waybill' AND a.document_key = 'waybill:' || w.id
                          AND a.status IN ('open', 'pending_check')
                          AND (a.group_code IN ('QUAL', 'NETWORK') OR a.code = :unknown)))
        ORDER BY w.id DESC LIMIT :limit"""

_REPORT_SQL = {
    "vehicle": text("""
        SELECT DISTINCT w.id FROM vehicle_report r
        JOIN waybill_vehicle wv ON wv.vehicle_number = r.vehicle_number AND wv.plate_color = r.plate_color
        JOIN waybill w ON w.id = wv.waybill_id AND w.operator_id = r.operator_id AND NOT w.is_sandbox
""" + _RECENT_OR_FLAGGED),
    "driver": text("""
        SELECT DISTINCT w.id FROM driver_report r
        JOIN waybill_driver wd ON wd.driving_license = r.driving_license
        JOIN waybill_vehicle wv ON wv.id = wd.waybill_vehicle_id
        JOIN waybill w ON w.id = wv.waybill_id AND w.operator_id = r.operator_id AND NOT w.is_sandbox
""" + _RECENT_OR_FLAGGED),
}


def waybills_naming_reports(session: Session, kind: str, report_ids: list[int]) -> list[int]:
    """The reporting platform's waybills that name the vehicles / drivers of these reports (recent, or with an
    anomaly the report may clear)."""
    if not report_ids:
        return []
    return list(session.scalars(_REPORT_SQL[kind], {"ids": report_ids, "days": REPORT_RECHECK_DAYS,
                                                    "unknown": UNKNOWN_PARTY, "limit": _RECHECK_LIMIT}))


def run_document_rules(session: Session, payload: dict[str, Any], registries: Registries) -> dict[str, int]:
    """One document-rules job: every rule (or only the registry rules of a retry) on the payload's waybills."""
    own = [int(i) for i in payload.get("waybill_ids", [])]
    ids = list(own)
    for kind in ("vehicle", "driver"):
        ids += waybills_naming_reports(session, kind, [int(i) for i in payload.get(f"{kind}_report_ids", [])])
    ids = sorted(set(ids))
    fired: dict[str, int] = {}
    if not payload.get("registry_only"):
        fired = check_waybills(session, ids)
        fired["DUPLICATE_WAYBILL"] = check_duplicates(session, ids)
        fired[UNKNOWN_PARTY] = check_parties(session, ids)
        # the fund flows paying the job's own waybills (not those a vehicle / driver report re-checks: a report
        # changes nothing about when a fund flow was paid or received)
        fund_flows = [int(i) for i in payload.get("fund_flow_ids", [])] + fund_flows_paying(session, own)
        for code, n in check_fund_flows(session, fund_flows).items():
            fired[code] = fired.get(code, 0) + n
    out = check_qualifications(session, ids, registries, attempt=int(payload.get("attempt", 0)))
    for code, n in out.fired.items():
        fired[code] = fired.get(code, 0) + n
    if out.pending:
        fired["pending_check"] = sum(out.pending.values())
    return fired


def rules_handlers(registries: Registries | None = None) -> dict[str, Handler]:
    """Handlers of the document-rule jobs, to join verification's in ``wlhy worker``.

    ``registries`` (the 运政 and national-platform clients with the answer cache) is built from the settings on
    first use when left out.
    """
    holder: list[Registries] = [registries] if registries is not None else []

    def _check(session: Session, payload: dict[str, Any]) -> dict[str, int]:
        if not holder:
            holder.append(Registries())
        return run_document_rules(session, payload, holder[0])

    return {KIND_DOCUMENT_RULES: _check}
