"""Login throttling with growing delays, per account and per address, read from the audit log's failures.

A hard lockout after N failures lets anyone lock ``admin`` out with two requests a minute. Here each failure
beyond a free allowance doubles the wait before the next attempt is even checked (capped), and an attempt refused
for waiting does not count as a failure, so a rival can delay a login by at most the cap, never block it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import AuditLog
from store.models.base import utcnow

__all__ = ["ACCOUNT", "ADDRESS", "Policy", "delay_s", "wait_s"]


@dataclass(frozen=True)
class Policy:
    """``free`` failures within ``window`` cost nothing; each further one doubles the delay, up to ``cap_s``."""

    free: int
    cap_s: float
    window: dt.timedelta


ACCOUNT = Policy(free=5, cap_s=30.0, window=dt.timedelta(minutes=15))
# An address (behind a TLS terminator: the client address it forwards) may fail more: offices share one address.
ADDRESS = Policy(free=50, cap_s=300.0, window=dt.timedelta(minutes=15))


def delay_s(failures: int, policy: Policy) -> float:
    """The wait after ``failures`` recent failures.

    >>> [delay_s(n, ACCOUNT) for n in (4, 5, 6, 7, 20)]
    [0.0, 1.0, 2.0, 4.0, 30.0]
    """
    if failures < policy.free:
        return 0.0
    return min(2.0 ** (failures - policy.free), policy.cap_s)


def wait_s(session: Session, action: str, policy: Policy, *, username: str | None = None,
           ip: str | None = None) -> int:
    """Whole seconds still to wait before the next attempt of this username (or from this address); 0 = go."""
    now = utcnow()
    q = select(func.count(), func.max(AuditLog.at)).where(AuditLog.action == action,
                                                          AuditLog.at >= now - policy.window)
    if username is not None:
        q = q.where(AuditLog.username == username)
    if ip is not None:
        q = q.where(AuditLog.ip == ip)
    n, last = session.execute(q).one()
    if not n:
        return 0
    remaining = (last + dt.timedelta(seconds=delay_s(n, policy)) - now).total_seconds()
    return max(0, math.ceil(remaining))
