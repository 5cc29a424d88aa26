"""``/api/v1/exchange``: the inbound message archive and the forwarding backlog (A1, A2)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import ScopeDep, SessionDep, require_roles
from etl.exchange import archive
from etl.forwarder.worker import backlog
from store.models import AppUser

__all__ = ["router"]

router = APIRouter(prefix="/exchange", tags=["exchange archive and outbox"])
Regulator = Annotated[AppUser, Depends(require_roles("admin", "province", "city", "county", "operator"))]


@router.get("/messages", summary="Inbound messages with their result codes (an operator sees its own)")
def list_messages(db: SessionDep, user: Regulator, scope: ScopeDep, result_code: int | None = None,
                  ipc_type: str | None = None, operator_id: int | None = None, since: dt.datetime | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    f = archive.MessageFilter(result_code=result_code, ipc_type=ipc_type, operator_id=operator_id, since=since)
    p = archive.list_messages(db_session=db, scope=scope, filters=f, limit=limit, offset=offset)
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": [
        {"id": m.id, "receivedAt": m.received_at, "userName": m.user_name, "operatorId": m.operator_id,
         "messageReferenceNumber": m.message_reference_number, "ipcType": m.ipc_type, "resultCode": m.result_code,
         "resultMsg": m.result_msg, "errors": m.errors, "weakEnvelope": m.weak_envelope, "sandbox": m.is_sandbox,
         "duplicateOf": m.duplicate_of}
        for m in p.items]}


@router.get("/outbox", summary="The forwarding backlog to the Ministry, with the Ministry's answers")
def list_outbox(
    db: SessionDep,
    user: Annotated[AppUser, Depends(require_roles("admin", "province"))],
    scope: ScopeDep,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    p = archive.list_outbox(db_session=db, scope=scope, status=status, limit=limit, offset=offset)
    return {"backlog": backlog(db), "total": p.total, "limit": p.limit, "offset": p.offset, "items": [
        {"id": o.id, "createdAt": o.created_at, "ipcType": o.ipc_type, "documentKind": o.document_kind,
         "documentId": o.document_id, "documentVersion": o.document_version,
         "ministryReferenceNumber": o.ministry_reference_number, "status": o.status, "attempts": o.attempts,
         "nextAttemptAt": o.next_attempt_at, "lastError": o.last_error, "ministryCode": o.ministry_code,
         "ministryMsg": o.ministry_msg, "ackedAt": o.acked_at}
        for o in p.items]}
