"""``/api/v1/audit`` (E2): the audit log for admin, filterable, as JSON or CSV; and the chain check."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api import openapi as docs
from api.deps import SessionDep, require_roles
from api.export import csv_response
from auth import audit
from store.models import AppUser, AuditLog
from store.paging import page

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit (审计)"])
Admin = Annotated[AppUser, Depends(require_roles("admin"))]
COLUMNS = ("id", "at", "userId", "username", "role", "action", "target", "ip", "outcome", "detail", "chainSeq")


def _row(a: AuditLog) -> dict[str, Any]:
    return {"id": a.id, "at": a.at, "userId": a.user_id, "username": a.username, "role": a.role, "action": a.action,
            "target": a.target, "ip": a.ip, "outcome": a.outcome, "detail": a.detail, "chainSeq": a.chain_seq}


@router.get("", summary="Audit log, newest first (admin); format=csv for a download", **docs.AUDIT)
def list_audit(db: SessionDep, user: Admin, action: str | None = None, username: str | None = None,
               target: str | None = None, outcome: Literal["ok", "refused", "failed"] | None = None,
               since: Annotated[dt.datetime | None, Query(description="from this time (ISO 8601)")] = None,
               until: Annotated[dt.datetime | None, Query(description="before this time (ISO 8601)")] = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
               format: Literal["json", "csv"] = "json") -> Any:
    q = audit.query(action=action, username=username, target=target, outcome=outcome, since=since, until=until)
    p = page(db, q, order_by=[AuditLog.id.desc()], limit=limit, offset=offset)
    items = [_row(a) for a in p.items]
    if format == "csv":
        return csv_response(items, COLUMNS, "audit.csv")
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": items}


@router.get("/verify", summary="Recompute the audit log's SM3 hash chain (admin)", **docs.AUDIT_VERIFY)
def verify_audit(db: SessionDep, user: Admin) -> dict[str, Any]:
    check = audit.verify(db)
    return {"intact": check.intact, "rows": check.rows, "brokenAt": check.broken_at, "reason": check.reason}
