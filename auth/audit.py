"""The audit log: the one writer of ``audit_log`` rows, their SM3 hash chain check, and the admin's listing.

Every state change and every unmasked read of personal data is a row (who, role, what, which object, when, from
where, outcome). Rows carry no personal data in clear: ``target`` names the object (``"waybill:42"``), ``detail``
holds ids and codes. The database seals each row into the chain when its transaction commits (migration 0003) and
refuses updates and deletes; :func:`verify` recomputes the chain and names the first row that does not fit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from auth.scope import Scope
from store.models import AuditLog
from store.paging import narrow

__all__ = ["ChainCheck", "query", "record", "refused", "verify"]


def record(
    session: Session,
    action: str,
    *,
    scope: Scope | None = None,
    user_id: int | None = None,
    username: str | None = None,
    role: str | None = None,
    target: str | None = None,
    ip: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction (commit it also when the action is refused).

    ``scope`` names the actor when the action comes through a Scope; ``user_id``/``username``/``role`` otherwise
    (a login attempt has a username but no scope yet). ``outcome`` is ``ok``, ``refused`` or ``failed``.
    """
    if scope is not None:
        user_id = scope.user_id if user_id is None else user_id
        username = scope.username if username is None else username
        role = scope.role if role is None else role
    session.add(AuditLog(user_id=user_id, username=username, role=role, action=action, target=target, ip=ip,
                         outcome=outcome, detail=detail))


def refused(
    session: Session,
    action: str,
    reason: str | BaseException,
    *,
    scope: Scope | None = None,
    user_id: int | None = None,
    username: str | None = None,
    role: str | None = None,
    target: str | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Keep a refused attempt on record: one ``refused`` row with the reason, committed at once.

    The caller raises its refusal next, and that rolls the request's transaction back; committing here first is
    what makes the row outlive it (as a failed login's does). Call it *before* the attempt writes anything, so
    that this commit holds the audit row alone.
    """
    record(session, action, scope=scope, user_id=user_id, username=username, role=role, target=target, ip=ip,
           outcome="refused", detail={**(detail or {}), "reason": str(reason)[:300]})
    session.commit()


def query(*, action: str | None = None, username: str | None = None, target: str | None = None,
          outcome: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None):
    """The SELECT of audit rows matching the filters (newest first is the caller's order)."""
    q = narrow(select(AuditLog), {AuditLog.action: action, AuditLog.username: username, AuditLog.target: target,
                                  AuditLog.outcome: outcome})
    if since:
        q = q.where(AuditLog.at >= since)
    if until:
        q = q.where(AuditLog.at < until)
    return q


@dataclass(frozen=True)
class ChainCheck:
    """Result of :func:`verify`: rows checked, and the first place the chain breaks (None when intact)."""

    rows: int
    broken_at: int | None  # chain position of the first row that does not fit
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


_CHECK_SQL = text("""
    SELECT chain_seq, prev_hash, row_hash,
           lag(row_hash) OVER w AS expected_prev,
           lag(chain_seq) OVER w AS prev_seq,
           encode(digest(coalesce(prev_hash, '') || wlhy_audit_row_text(a), 'sm3'), 'hex') AS recomputed
    FROM audit_log a
    WHERE chain_seq IS NOT NULL
    WINDOW w AS (ORDER BY chain_seq)
    ORDER BY chain_seq
""")


def verify(session: Session) -> ChainCheck:
    """Recompute the SM3 chain: an edited row, a deleted row (middle or tail) or a forged hash is found."""
    rows = 0
    for r in session.execute(_CHECK_SQL):
        rows += 1
        if r.recomputed != r.row_hash:
            return ChainCheck(rows, r.chain_seq, "row edited: its hash does not match its content")
        expected_seq = (r.prev_seq or 0) + 1
        if r.chain_seq != expected_seq or (r.prev_hash or None) != (r.expected_prev or None):
            return ChainCheck(rows, r.chain_seq, f"row(s) before position {r.chain_seq} deleted")
    head = session.execute(text("SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1")).one()
    last = session.execute(text("SELECT max(chain_seq), (SELECT row_hash FROM audit_log WHERE chain_seq = "
                                "(SELECT max(chain_seq) FROM audit_log)) FROM audit_log")).one()
    if (last[0] or 0) != head.last_seq or (last[1] or None) != (head.last_hash or None):
        return ChainCheck(rows, (last[0] or 0) + 1, "the newest row(s) deleted")
    return ChainCheck(rows, None, None)
