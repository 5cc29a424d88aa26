"""What a batch of documents (waybills, or fund flows) already carries in the anomaly ledger, so a re-check
writes only what changed.

A daily sweep re-checks waybills whose anomalies mostly stand as they were: an unchanged anomaly need not be
rewritten, and a waybill whose codes are in line need not be resolved (every statement on ``anomaly`` also costs
its triggers)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["Ledger"]

_SQL = text("""
    SELECT document_key, code, status, reason_en, evidence FROM anomaly
    WHERE document_kind = :kind AND document_key = ANY(:keys) AND code = ANY(:codes)
""")


class Ledger:
    """The current anomalies with ``codes`` on the documents ``keys`` of ``kind`` (``waybill:<id>``, or
    ``fund_flow:<id>`` with ``kind="fund_flow"``)."""

    def __init__(self, session: Session, keys: Iterable[str], codes: Iterable[str], *,
                 kind: str = "waybill") -> None:
        self.rows = {(r.document_key, r.code): r
                     for r in session.execute(_SQL, {"kind": kind, "keys": list(keys), "codes": list(codes)})}

    def unchanged(self, key: str, code: str, reason_en: str, evidence: dict[str, Any]) -> bool:
        """The anomaly stands already with these reasons and evidence (recording it again changes nothing)."""
        r = self.rows.get((key, code))
        return (r is not None and r.status in ("open", "appealed", "upheld", "overturned")
                and r.reason_en == reason_en and r.evidence == evidence)

    def needs_resolve(self, key: str, decided: Iterable[str], fired: set[str]) -> bool:
        """Whether :func:`store.anomalies.resolve` would change anything for this document."""
        for code in decided:
            r = self.rows.get((key, code))
            if r is None:
                continue
            if (code in fired and r.status in ("resolved", "pending_check")) or (
                    code not in fired and r.status in ("open", "pending_check")):
                return True
        return False
