"""Recording anomalies: one row per (code, document), idempotent, with reasons in Chinese and English."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.models import Anomaly
from supervision.anomalies.catalogue import ANOMALY_TYPES

__all__ = ["record"]


def record(
    session: Session,
    code: str,
    *,
    document_kind: str,
    document_key: str,
    operator_id: int | None,
    reason_zh: str,
    reason_en: str,
    document_id: int | None = None,
    severity: str = "warning",
    evidence: dict[str, Any] | None = None,
) -> int:
    """Write (or refresh) the anomaly ``code`` on one document; returns its id.

    Raises
    ------
    ValueError
        If ``code`` is not in the catalogue of spec/RULES.md §1.
    """
    kind = ANOMALY_TYPES.get(code)
    if kind is None:
        raise ValueError(f"unknown anomaly code {code!r}; known: {sorted(ANOMALY_TYPES)}")
    values = dict(
        code=code, group_code=kind.group, severity=severity, operator_id=operator_id, document_kind=document_kind,
        document_id=document_id, document_key=document_key, reason_zh=reason_zh, reason_en=reason_en,
        evidence=evidence,
    )
    stmt = insert(Anomaly).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["code", "document_kind", "document_key"],
        set_={k: stmt.excluded[k] for k in ("document_id", "reason_zh", "reason_en", "evidence", "severity")},
    ).returning(Anomaly.id)
    return session.execute(stmt).scalar_one()

