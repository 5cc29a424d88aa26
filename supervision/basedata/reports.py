"""What vehicles and drivers have in common as people read them: one shared row, one report per platform.

A vehicle or driver is visible through the *reports* a scope may see (spec/API.md, DESIGN.md "Ownership"): an
operator through its own report only, a county or city through reports of operators registered there, the
province and admin through all. What is shown as "the record" is one visible report — the owner's (the first
production platform, whose report the shared row mirrors) when visible, otherwise the scope's earliest — so an
operator never sees a field a rival reported.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from auth.scope import Scope
from store.models import DocumentVersion, Operator

__all__ = ["history", "report_rows", "shown_reports", "visible_reports"]


def _in_division(column, prefix: str):
    return column.in_(select(Operator.id).where(Operator.division_code.like(f"{prefix}%")))


def shown_reports(report, shared, link, scope: Scope, *, operator_id: int | None = None,
                  division: str | None = None, natural=lambda model: ()) -> tuple[Select, bool]:
    """SELECT of the report to show for each visible shared row (``link`` = the report's shared-row column), and
    whether that SELECT joins ``shared`` (then its columns may be sorted on: its indexes serve the page).

    ``operator_id`` / ``division`` narrow to reports of that platform / of platforms registered there (the
    record shown is then that platform's report). ``natural(model)``: conditions on natural-key columns (plate,
    ID number) of ``model``, the same in every report of a shared row and in the shared row itself, so they narrow
    before the report to show is chosen (and use the shared row's unique index when joined).
    """
    q = select(report).where(report.is_sandbox.is_(False), scope.operator_filter(report.operator_id),
                             *natural(report))
    one = operator_id if operator_id is not None else scope.operator_id
    if one is not None:  # one platform: at most one report per shared row (the natural key), nothing to choose
        return q.where(report.operator_id == one), False
    if scope.sees_all and not division:  # every report visible: the owner's, which the shared row mirrors
        return q.join(shared, (shared.id == link) & (shared.operator_id == report.operator_id)).where(
            *natural(shared)), True
    ids = select(report.id).where(report.is_sandbox.is_(False), scope.operator_filter(report.operator_id),
                                  *natural(report))
    if division:
        ids = ids.where(_in_division(report.operator_id, division))
    # DISTINCT ON: the owner's report first (it is what the shared row shows), then the earliest.
    ids = (ids.join(shared, shared.id == link).ext(distinct_on(link))
           .order_by(link, (report.operator_id == shared.operator_id).desc(), report.id))
    return select(report).where(report.id.in_(ids)), False


def visible_reports(db_session: Session, report, shared, link, scope: Scope, shared_id: int) -> tuple[Any, list]:
    """(the shared row, its production reports visible to ``scope``, the one to show first); no reports when none
    is visible (the caller answers "not found")."""
    row = db_session.get(shared, shared_id)
    if row is None:
        return None, []
    reports = list(db_session.scalars(select(report).where(
        link == shared_id, report.is_sandbox.is_(False), scope.operator_filter(report.operator_id))
        .order_by(report.id)))
    reports.sort(key=lambda r: (r.operator_id != row.operator_id, r.id))
    return row, reports


def report_rows(db_session: Session, reports: list) -> list[dict[str, Any]]:
    """Which platforms report it: operator, first and last reported, current version (one line per report)."""
    names = dict(db_session.execute(select(Operator.id, Operator.name).where(
        Operator.id.in_([r.operator_id for r in reports]))).all()) if reports else {}
    return [{"operatorId": r.operator_id, "operatorName": names.get(r.operator_id), "version": r.version,
             "firstReportedAt": r.created_at, "lastReportedAt": r.updated_at, "messageId": r.message_id}
            for r in reports]


def history(db_session: Session, kind: str, reports: list, mask_payload=None) -> list[dict[str, Any]]:
    """Every accepted version of the given reports, newest first (``mask_payload`` hides personal data)."""
    if not reports:
        return []
    rows = db_session.scalars(select(DocumentVersion).where(
        DocumentVersion.kind == kind, DocumentVersion.document_id.in_([r.id for r in reports]))
        .order_by(DocumentVersion.received_at.desc(), DocumentVersion.id.desc()))
    return [{"operatorId": v.operator_id, "version": v.version, "current": v.superseded_at is None,
             "receivedAt": v.received_at, "supersededAt": v.superseded_at, "messageId": v.message_id,
             "note": v.note, "payload": mask_payload(v.payload) if mask_payload else v.payload}
            for v in rows]
