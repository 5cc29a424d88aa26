"""The document rules on the job queue: intake queues a check per accepted waybill or fund flow (off the
acknowledgement's hot path), the worker runs it with this handler."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from store.jobs import KIND_DOCUMENT_RULES, Handler
from supervision.rules.duplicates import check_duplicates
from supervision.rules.waybills import check_waybills

__all__ = ["rules_handlers"]


def _check(session: Session, payload: dict[str, Any]) -> dict[str, int]:
    ids = [int(i) for i in payload.get("waybill_ids", [])]
    fired = check_waybills(session, ids)
    fired["DUPLICATE_WAYBILL"] = check_duplicates(session, ids)
    return fired


def rules_handlers() -> dict[str, Handler]:
    """Handlers of the document-rule jobs, to join verification's in ``wlhy worker``."""
    return {KIND_DOCUMENT_RULES: _check}
