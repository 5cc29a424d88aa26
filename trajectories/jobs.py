"""Verification on the job queue (store.jobs): the handler, the scan that queues completed waybills, the loop.

Verification is enqueued by a scheduled scan (:func:`enqueue_due_verifications`) rather than by a trigger on
waybill intake: a scan is idempotent, catches waybills whose receipt time passes while nothing else happens,
and heals anything a crashed worker or a lost enqueue left behind.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from store.jobs import Handler, Worker

if TYPE_CHECKING:
    from etl.adapters.national import NationalPlatformClient

__all__ = [
    "DEFAULT_HANDLERS",
    "KIND_VERIFY_WAYBILL",
    "enqueue_due_verifications",
    "run_verifier",
    "verification_handlers",
]

KIND_VERIFY_WAYBILL = "verify_waybill"


def verification_handlers(national: NationalPlatformClient | None = None) -> dict[str, Handler]:
    """The queue's handlers, verifying with the BeiDou track from ``national`` (the national platform) when given.

    ``wlhy worker`` and ``demo up`` pass the client built from the settings; without one, only fixes already in
    the database are used.
    """

    def verify(session: Session, payload: dict[str, Any]) -> Any:
        # imported here: verification pulls in the kernel and geo stack, which a bare queue user does not need
        from trajectories.verification import verify_waybill

        return verify_waybill(session, int(payload["waybill_id"]), national=national)

    return {KIND_VERIFY_WAYBILL: verify}


DEFAULT_HANDLERS: dict[str, Handler] = verification_handlers()


_DUE_SQL = text(
    """
    INSERT INTO job (kind, key, payload, run_after)
    SELECT CAST(:kind AS varchar), 'waybill:' || w.id, jsonb_build_object('waybill_id', w.id), now()
    FROM waybill w
    WHERE w.receipt_at <= :due_before AND w.receipt_at > :since AND NOT w.is_sandbox
      AND NOT EXISTS (SELECT 1 FROM verification v WHERE v.waybill_id = w.id AND v.current)
      AND NOT EXISTS (SELECT 1 FROM job j WHERE j.kind = :kind AND j.key = 'waybill:' || w.id
                      AND j.status IN ('pending', 'running', 'failed'))
    ON CONFLICT DO NOTHING
    """
)


def enqueue_due_verifications(
    session: Session,
    *,
    grace: dt.timedelta = dt.timedelta(hours=2),
    now: dt.datetime | None = None,
    lookback: dt.timedelta = dt.timedelta(days=30),
) -> int:
    """Queue ``verify_waybill`` for every complete waybill (receipt + ``grace`` passed) not yet verified.

    Meant to run on a schedule (every few minutes); running it again queues nothing twice. Waybills already
    pending, running or given up (``failed``) are left alone; ``POST /api/v1/waybills/{id}/verify`` re-runs
    those on demand.

    Parameters
    ----------
    session : Session
        The caller commits.
    grace : timedelta
        How long after the receipt time the fixes are expected to have arrived.
    now : datetime, optional
        Aware "now" (default: the current time); tests pass a fixed one.
    lookback : timedelta
        Only waybills received within this period before ``now - grace`` (keeps the scan on the index).

    Returns
    -------
    int
        Number of jobs queued.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    due_before = now - grace
    result = session.execute(_DUE_SQL, {
        "kind": KIND_VERIFY_WAYBILL, "due_before": due_before, "since": due_before - lookback,
    })
    return result.rowcount


def run_verifier(
    session_factory: sessionmaker,
    *,
    stop: threading.Event,
    national: NationalPlatformClient | None = None,
    scan_every_s: float = 60.0,
    lookback: dt.timedelta = dt.timedelta(days=30),
    on_queued: Callable[[int], None] | None = None,
    extra_handlers: Mapping[str, Handler] | None = None,
) -> None:
    """Verify waybills as they complete, until ``stop``: a scan queues them every ``scan_every_s`` (a thread),
    the worker runs the queue with the BeiDou track from ``national`` (and ``extra_handlers``' kinds, e.g. the
    document rules'). ``on_queued(n)`` hears each scan's count."""

    def scan() -> None:
        while not stop.is_set():
            with session_factory() as s:
                n = enqueue_due_verifications(s, lookback=lookback)
                s.commit()
            if on_queued is not None:
                on_queued(n)
            stop.wait(scan_every_s)

    threading.Thread(target=scan, name="verify-scan", daemon=True).start()
    handlers = {**verification_handlers(national), **(extra_handlers or {})}
    Worker(session_factory, handlers=handlers).run(stop=stop)
