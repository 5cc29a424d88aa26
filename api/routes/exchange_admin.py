"""``/api/v1/exchange``: the inbound message archive and the forwarding backlog (A1, A2)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

from api.deps import SessionDep, require_roles
from etl.forwarder.worker import backlog
from store.models import AppUser, Message, Outbox

__all__ = ["router"]

router = APIRouter(prefix="/exchange", tags=["exchange archive and outbox"])
Regulator = Annotated[AppUser, Depends(require_roles("admin", "province", "city", "county", "operator"))]


@router.get("/messages", summary="Inbound messages with their result codes (an operator sees its own)")
def list_messages(
    db: SessionDep,
    user: Regulator,
    result_code: int | None = None,
    ipc_type: str | None = None,
    operator_id: int | None = None,
    since: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    q = select(Message)
    if user.role == "operator":
        q = q.where(Message.operator_id == user.operator_id)
    elif operator_id is not None:
        q = q.where(Message.operator_id == operator_id)
    if result_code is not None:
        q = q.where(Message.result_code == result_code)
    if ipc_type:
        q = q.where(Message.ipc_type == ipc_type)
    if since:
        q = q.where(Message.received_at >= since)
    total = db.scalar(select(func.count()).select_from(q.subquery()))
    rows = db.scalars(q.order_by(Message.id.desc()).limit(limit).offset(offset)).all()
    return {"total": total, "limit": limit, "offset": offset, "items": [
        {"id": m.id, "receivedAt": m.received_at, "userName": m.user_name, "operatorId": m.operator_id,
         "messageReferenceNumber": m.message_reference_number, "ipcType": m.ipc_type, "resultCode": m.result_code,
         "resultMsg": m.result_msg, "errors": m.errors, "weakEnvelope": m.weak_envelope, "sandbox": m.is_sandbox,
         "duplicateOf": m.duplicate_of}
        for m in rows]}


@router.get("/outbox", summary="The forwarding backlog to the Ministry, with the Ministry's answers")
def list_outbox(
    db: SessionDep,
    user: Annotated[AppUser, Depends(require_roles("admin", "province"))],
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    q = select(Outbox)
    if status:
        q = q.where(Outbox.status == status)
    total = db.scalar(select(func.count()).select_from(q.subquery()))
    rows = db.scalars(q.order_by(Outbox.id.desc()).limit(limit).offset(offset)).all()
    return {"backlog": backlog(db), "total": total, "limit": limit, "offset": offset, "items": [
        {"id": o.id, "createdAt": o.created_at, "ipcType": o.ipc_type, "documentKind": o.document_kind,
         "documentId": o.document_id, "documentVersion": o.document_version,
         "ministryReferenceNumber": o.ministry_reference_number, "status": o.status, "attempts": o.attempts,
         "nextAttemptAt": o.next_attempt_at, "lastError": o.last_error, "ministryCode": o.ministry_code,
         "ministryMsg": o.ministry_msg, "ackedAt": o.acked_at}
        for o in rows]}
