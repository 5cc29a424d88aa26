"""Reading the inbound message archive and the forwarding outbox, within a user's Scope (A1, A2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from auth.scope import Scope
from store.models import Message, Outbox
from store.paging import Page, narrow, page

__all__ = ["MessageFilter", "list_messages", "list_outbox"]


@dataclass(frozen=True)
class MessageFilter:
    """Narrowing of the archive listing; every field optional."""

    result_code: int | None = None
    ipc_type: str | None = None
    operator_id: int | None = None
    since: dt.datetime | None = None  # received at or after


def list_messages(*, db_session: Session, scope: Scope, filters: MessageFilter = MessageFilter(), limit: int = 100,
                  offset: int = 0) -> Page[Message]:
    """Inbound messages, newest first, that ``scope`` may see (an operator its own, a county its operators')."""
    f = filters
    q = narrow(select(Message).where(scope.operator_filter(Message.operator_id)),
               {Message.operator_id: f.operator_id, Message.result_code: f.result_code, Message.ipc_type: f.ipc_type})
    if f.since:
        q = q.where(Message.received_at >= f.since)
    return page(db_session, q, order_by=[Message.id.desc()], limit=limit, offset=offset)


def list_outbox(
    *, db_session: Session, scope: Scope, status: str | None = None, limit: int = 100, offset: int = 0
) -> Page[Outbox]:
    """The forwarding backlog, newest first; province-wide staff only (the route checks the role)."""
    q = select(Outbox) if scope.sees_all or scope.role == "province" else select(Outbox).where(false())
    q = narrow(q, {Outbox.status: status})
    return page(db_session, q, order_by=[Outbox.id.desc()], limit=limit, offset=offset)
