"""What vehicles and drivers have in common as people read them: one shared row, one report per platform.

A vehicle or driver is visible through the *reports* a scope may see (spec/API.md, DESIGN.md "Ownership"): an
operator through its own report only, a county or city through reports of operators registered there, the
province and admin through all. What is shown as "the record" is one visible report — the owner's (the first
production platform, whose report the shared row mirrors) when visible, otherwise the scope's earliest — so an
operator never sees a field a rival reported.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, distinct, func, select, true
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session, aliased

from auth.scope import Scope
from store.models import DocumentVersion, Operator

__all__ = ["history", "report_rows", "shown_reports", "visible_reports"]


def _in_division(column, prefix: str):
    return column.in_(select(Operator.id).where(Operator.division_code.like(f"{prefix}%")))


def shown_reports(report, shared, link, scope: Scope, *, operator_id: int | None = None,
                  division: str | None = None, natural=lambda model: (), by_shared: bool = False
                  ) -> tuple[Select, Any, bool, Select | None]:
    """SELECT of the report to show for each visible shared row (``link`` = the report's shared-row column), the
    entity whose columns filters and sorts on that report name (``report`` itself, or an alias of it when the
    choice is a LATERAL subquery), whether that SELECT has ``shared`` in its FROM (then its columns may be sorted
    on: its indexes serve the page), and a cheaper SELECT of how many rows it gives (None: count it as it is),
    valid only as long as the caller adds no condition on the report's other columns.

    ``operator_id`` / ``division`` narrow to reports of that platform / of platforms registered there (the
    record shown is then that platform's report). ``natural(model)``: conditions on natural-key columns (plate,
    ID number) of ``model``, the same in every report of a shared row and in the shared row itself, so they narrow
    before the report to show is chosen (and use the shared row's unique index when joined). ``by_shared``: the
    page is sorted on the shared row's columns (plate, id), so it may walk the shared rows in that order.
    """
    q = select(report).where(report.is_sandbox.is_(False), scope.operator_filter(report.operator_id),
                             *natural(report))
    one = operator_id if operator_id is not None else scope.operator_id
    if one is not None:  # one platform: at most one report per shared row (the natural key), nothing to choose
        return q.where(report.operator_id == one), report, False, None
    if scope.sees_all and not division:  # every report visible: the owner's, which the shared row mirrors
        return q.join(shared, (shared.id == link) & (shared.operator_id == report.operator_id)).where(
            *natural(shared)), report, True, None
    ids = select(report.id).where(report.is_sandbox.is_(False), scope.operator_filter(report.operator_id),
                                  *natural(report))
    if division:
        ids = ids.where(_in_division(report.operator_id, division))
    # One report is shown per shared row with any visible report: counting those rows needs no choice (0.5 ms
    # where counting the chosen reports took 3 ms, bench/queries.py data, province, 2,000 vehicles).
    total = ids.with_only_columns(func.count(distinct(link)))
    if by_shared:
        # Sorted on the shared row: walk the shared rows in that order (their index), each with its top visible
        # report (LATERAL … LIMIT 1 over the report's shared-row index): the page stops after ``limit`` rows,
        # 0.4 ms for the province's first page where choosing for every row first (below) takes 3 ms.
        pick = select(report).where(link == shared.id, report.is_sandbox.is_(False),
                                    scope.operator_filter(report.operator_id), *natural(report))
        if division:
            pick = pick.where(_in_division(report.operator_id, division))
        shown = (pick.order_by((report.operator_id == shared.operator_id).desc(), report.id).limit(1)
                 .lateral("shown"))
        entity = aliased(report, shown)
        seen = ids.with_only_columns(link)  # only shared rows with a visible report are walked (a county's fifth)
        return (select(entity).select_from(shared).join(shown, true()).where(shared.id.in_(seen), *natural(shared)),
                entity, True, total)
    # Sorted on the report's own columns (name, updatedAt, …): every visible shared row's choice is needed. DISTINCT
    # ON: the owner's report first (it is what the shared row shows), then the earliest. Measured against a LATERAL
    # top-1 per shared row (2,000 drivers, min of 7 EXPLAIN ANALYZE): sorting the visible reports' ids costs 3 ms
    # for the province, the 2,000 LATERAL probes 10 ms.
    ids = (ids.join(shared, shared.id == link).ext(distinct_on(link))
           .order_by(link, (report.operator_id == shared.operator_id).desc(), report.id))
    return select(report).where(report.id.in_(ids)), report, False, total


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
