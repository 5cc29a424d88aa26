"""Reading the anomaly ledger within a user's Scope: filtered pages and counts by group and operator (B3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from auth.scope import Scope
from core.beijing import day_bounds
from store.models import Anomaly, Operator
from store.paging import Page, narrow, order, page

__all__ = ["AnomalyFilter", "counts", "get", "list_anomalies"]

#: Sortable columns of the list (``-`` in front for descending), as the API spells them.
SORTS = {"detectedAt": Anomaly.detected_at, "code": Anomaly.code, "severity": Anomaly.severity,
         "operatorId": Anomaly.operator_id, "id": Anomaly.id}


@dataclass(frozen=True)
class AnomalyFilter:
    """What the list is narrowed to; every field optional. Dates are Beijing days of detection, both included."""

    code: str | None = None
    group: str | None = None
    operator_id: int | None = None
    document_kind: str | None = None
    document_id: int | None = None
    division: str | None = None  # leading digits of the operator's registered division
    status: str | None = None
    severity: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _query(scope: Scope, f: AnomalyFilter) -> Select:
    scope.require_documents()
    q = narrow(select(Anomaly).where(scope.operator_filter(Anomaly.operator_id)),
               {Anomaly.code: f.code, Anomaly.group_code: f.group, Anomaly.operator_id: f.operator_id,
                Anomaly.document_kind: f.document_kind, Anomaly.document_id: f.document_id,
                Anomaly.status: f.status, Anomaly.severity: f.severity})
    if f.division:
        q = q.where(Anomaly.operator_id.in_(select(Operator.id).where(Operator.division_code.like(f"{f.division}%"))))
    if f.date_from or f.date_to:
        lo, hi = day_bounds(f.date_from or dt.date(2000, 1, 1), f.date_to or dt.date(2999, 12, 31))
        q = q.where(Anomaly.detected_at >= lo, Anomaly.detected_at < hi)
    return q


def list_anomalies(*, db_session: Session, scope: Scope, filters: AnomalyFilter = AnomalyFilter(),
                   sort: str = "-detectedAt", limit: int = 100, offset: int = 0) -> Page[Anomaly]:
    """One page of the anomalies ``scope`` may see, matching ``filters``.

    Raises
    ------
    ScopeError
        For an analyst (anomalies name documents; analysts read aggregates).
    InvalidInputError
        For an unknown sort column.
    """
    return page(db_session, _query(scope, filters), order_by=order(SORTS, sort, Anomaly.id), limit=limit,
                offset=offset, plain=True)


def counts(*, db_session: Session, scope: Scope, filters: AnomalyFilter = AnomalyFilter()) -> dict[str, dict]:
    """Counts of the matching anomalies by group, by code and by operator (for charts beside the list)."""
    sub = _query(scope, filters).with_only_columns(Anomaly.group_code, Anomaly.code, Anomaly.operator_id).subquery()
    # One scan for the three breakdowns (GROUPING SETS) instead of one query each; grouping() tells which set a
    # row belongs to (a NULL key is a real value: anomalies without an operator).
    keys = {"byGroup": sub.c.group_code, "byCode": sub.c.code, "byOperator": sub.c.operator_id}
    which = func.grouping(*keys.values())  # a bit per column *not* in the row's set, first column highest
    rows = db_session.execute(select(which, *keys.values(), func.count())
                              .group_by(func.grouping_sets(*keys.values()))).all()
    out: dict[str, list] = {name: [] for name in keys}
    names = {0b011: "byGroup", 0b101: "byCode", 0b110: "byOperator"}
    for bits, group, code, operator_id, n in rows:
        name = names[bits]
        key = {"byGroup": group, "byCode": code, "byOperator": operator_id}[name]
        out[name].append((str(key) if key is not None else "", n))
    # Largest first, as before; ties keep no particular order (the per-key queries did not fix one either).
    return {name: dict(sorted(pairs, key=lambda kn: -kn[1])) for name, pairs in out.items()}


def get(*, db_session: Session, scope: Scope, anomaly_id: int) -> Anomaly | None:
    """One anomaly, or None when unknown or out of scope (the two answer alike)."""
    scope.require_documents()
    return db_session.scalars(select(Anomaly).where(Anomaly.id == anomaly_id,
                                                    scope.operator_filter(Anomaly.operator_id))).one_or_none()
