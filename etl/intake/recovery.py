"""Finishing what a crash left open: archived messages without a result code, outbox rows held by a dead forwarder.

The intake commits each message to the archive before processing it and commits its outcome with what it stored
(``etl.intake.pipeline``), so a server or database that dies in between leaves the message archived without a
result code and nothing else.  A re-send of it is processed then (``pipeline.answer_resend``); :func:`recover`
finishes the ones nobody re-sends, once they are older than a grace period (so messages in flight are not touched;
those also hold their row lock, which the sweep skips):

* a first arrival is processed from its archive (the archived envelope, or the plain body of the internal
  channel) and gets the outcome the intake rules give (1001, or 3004 … 3008 with ``INTAKE_REJECTED``);
* one that cannot be processed gets a specific code and, when it has a sender, an ``INTAKE_REJECTED`` anomaly:
  9001 when processing raised, or when :data:`MAX_ATTEMPTS` recovery attempts of it never finished (each attempt
  is committed on the row first, so a message that kills the process is not tried for ever); 2001 / 3004 for one
  whose sender was never authenticated (the only answers it could have had); 3001 for a re-send row whose own
  answer was lost (its first arrival is the message of record).

Outbox rows are locked only inside a forwarder's transaction, so a forwarder that dies releases them, still due,
and their re-delivery under the same reference is de-duplicated by the Ministry.  A forwarder that hangs or whose
host vanished (its connection half-open) would hold them for ever: the sweep ends the database session of any
transaction that has held outbox rows for longer than a lease (default 15 minutes, well above a batch of sends
with their timeouts), which releases them.

:func:`run_forever` runs the sweep at start and then every minute until a stop event; :func:`start` runs it in a
daemon thread (the app does, one per process; several sweepers are safe together).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.beijing import today as beijing_today
from etl.exchange import keys
from etl.exchange.service import complete_archived
from etl.intake import partitions
from etl.intake.pipeline import IntakeResult, finish, process, replay_result
from etl.intake.results import RESULT_MESSAGES
from store.db import safe_error
from store.models import Message, Operator
from store.models.base import utcnow

__all__ = ["GRACE", "INTERVAL_S", "MAX_ATTEMPTS", "OUTBOX_LEASE", "RecoveryCounts", "Sweeper", "recover",
           "run_forever", "start"]

log = logging.getLogger(__name__)

#: Messages younger than this are left alone: they may be in flight.
GRACE = dt.timedelta(minutes=2)
#: A transaction holding outbox rows longer than this belongs to a forwarder that is gone or hung.
OUTBOX_LEASE = dt.timedelta(minutes=15)
#: Pause between sweeps of :func:`run_forever`.
INTERVAL_S = 60.0
#: Recovery attempts of one message that may die unfinished before it is closed with 9001.
MAX_ATTEMPTS = 3
_ATTEMPT = "recovery"  # ``rule`` of the attempt entries kept in ``message.errors`` until the outcome replaces them

# The transactions holding outbox rows (a row locked or being updated has the holder's xid as xmax).
_OUTBOX_HOLDERS = text("""
SELECT a.pid, count(*) AS n
FROM outbox o
JOIN pg_stat_activity a ON a.backend_xid = o.xmax
WHERE o.status IN ('pending', 'retry') AND a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.xact_start < now() - :lease
GROUP BY a.pid
""")


@dataclass
class RecoveryCounts:
    """What one sweep did."""

    processed: int = 0  # messages processed from the archive (their outcome is the one the intake rules give)
    closed: int = 0  # messages that could not be processed, given a specific code
    skipped: int = 0  # messages someone else was processing (locked), or the database failed: left for next time
    outbox_released: int = 0  # outbox rows released from a transaction held past the lease

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def recover(
    session_factory: Callable[[], Session],
    *,
    older_than: dt.timedelta = GRACE,
    outbox_lease: dt.timedelta = OUTBOX_LEASE,
    limit: int = 1000,
) -> RecoveryCounts:
    """Finish archived messages left without a result code for longer than `older_than`; release stuck outbox rows.

    One transaction per message, each under the message's row lock taken with ``SKIP LOCKED`` (a message being
    processed is skipped).  First arrivals go before re-send rows, oldest first, at most `limit` per sweep.

    Returns
    -------
    RecoveryCounts
    """
    counts = RecoveryCounts()
    with session_factory() as session:
        todo = session.execute(
            select(Message.id).where(Message.result_code.is_(None), Message.received_at < func.now() - older_than)
            .order_by(Message.duplicate_of.is_not(None), Message.id).limit(limit)).scalars().all()
    for message_id in todo:
        try:
            with session_factory() as session:
                outcome = _recover_message(session, message_id)
        except DBAPIError as e:  # the database failed (restarting?): the message is left for the next sweep
            log.warning("recovery of message %s interrupted: %s", message_id, safe_error(e))
            outcome = "skipped"
        setattr(counts, outcome, getattr(counts, outcome) + 1)
    counts.outbox_released = _release_outbox(session_factory, outbox_lease)
    if counts:
        log.warning("recovery sweep: %s", counts)
    return counts


def _lock(session: Session, message_id: int) -> Message | None:
    return session.scalars(
        select(Message).where(Message.id == message_id, Message.result_code.is_(None))
        .with_for_update(skip_locked=True, key_share=True).execution_options(populate_existing=True)).one_or_none()


def _recover_message(session: Session, message_id: int) -> str:
    msg = _lock(session, message_id)
    if msg is None:
        return "skipped"
    if msg.duplicate_of is not None:  # a re-send whose own answer was lost; its first arrival is the record
        finish(session, msg, replay_result(session.get(Message, msg.duplicate_of), msg.id), None)
        return "closed"
    if msg.operator_id is None:  # archived before its sender was authenticated: nothing may be processed
        if msg.header:
            result = IntakeResult(2001, RESULT_MESSAGES[2001], msg.id, errors=[{
                "field": "header.token", "rule": "auth", "message": "sender not authenticated before an interruption"}])
        else:
            result = IntakeResult(3004, RESULT_MESSAGES[3004], msg.id, errors=[{
                "field": "root", "rule": "format", "message": "envelope is not {root:{header,body}} JSON"}])
        finish(session, msg, result, None)
        return "closed"
    operator = session.get(Operator, msg.operator_id)
    attempts = [e for e in (msg.errors or []) if e.get("rule") == _ATTEMPT]
    if len(attempts) >= MAX_ATTEMPTS:  # each one died unfinished: the message may be what kills the process
        _close(session, msg, operator, f"{len(attempts)} recovery attempts did not finish", attempts)
        return "closed"
    # Record the attempt first (committed), so that a message that kills the process is not tried for ever.
    now = utcnow()
    msg.errors = [*attempts, {"field": "", "rule": _ATTEMPT,
                              "message": f"attempt {len(attempts) + 1} at {now:%Y-%m-%d %H:%M:%S} UTC"}]
    session.commit()
    msg = _lock(session, message_id)
    if msg is None:  # a re-send took it in between
        return "skipped"
    try:
        if msg.body is not None and msg.encrypted_code is None and msg.encrypted_content is None:
            process(session, msg, operator=operator, header=dict(msg.header or {}), payload=msg.body,
                    is_sandbox=msg.is_sandbox)
        else:
            complete_archived(session, msg, operator=operator, private_keys=keys.decryption_keys(db_session=session))
        return "processed"
    except DBAPIError:
        raise  # not the message's fault; MAX_ATTEMPTS bounds the retries
    except Exception as e:  # noqa: BLE001 - whatever else it is, the message gets an outcome
        log.error("recovery of message %s failed: %s", message_id, safe_error(e))
        session.rollback()
        msg = _lock(session, message_id)
        if msg is None:
            return "skipped"
        _close(session, msg, operator, f"could not be processed on recovery: {type(e).__name__}",
               [x for x in (msg.errors or []) if x.get("rule") == _ATTEMPT])
        return "closed"


def _close(session: Session, msg: Message, operator: Operator | None, why: str,
           attempts: list[dict[str, str]] = ()) -> None:
    # 9001: failed on our side, so the reference is free again for the platform's retry; INTAKE_REJECTED via finish.
    errors = [*attempts, {"field": "", "rule": _ATTEMPT, "message": why}]
    finish(session, msg, IntakeResult(9001, RESULT_MESSAGES[9001], msg.id, errors=errors), operator)


def _release_outbox(session_factory: Callable[[], Session], lease: dt.timedelta) -> int:
    released = 0
    with session_factory() as session:
        for pid, n in session.execute(_OUTBOX_HOLDERS, {"lease": lease}).all():
            try:
                ended = session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            except DBAPIError as e:  # e.g. not allowed to signal that session
                log.error("cannot end session %s holding %s outbox rows: %s", pid, n, safe_error(e))
                session.rollback()
                continue
            if ended:
                log.warning("ended database session %s: it held %s outbox rows for longer than %s", pid, n, lease)
                released += n
        session.commit()
    return released


def run_forever(
    stop_event: threading.Event,
    session_factory: Callable[[], Session],
    *,
    interval_s: float = INTERVAL_S,
    older_than: dt.timedelta = GRACE,
    outbox_lease: dt.timedelta = OUTBOX_LEASE,
) -> None:
    """Sweep now, then every `interval_s` seconds, until `stop_event` is set (a failed sweep is logged, not fatal).

    At start and on each new Beijing day it also creates the coming days' ``position`` partitions
    (``etl.intake.partitions.ensure_ahead``), so platform traffic never has to.
    """
    partitions_day = None
    while not stop_event.is_set():
        try:
            recover(session_factory, older_than=older_than, outbox_lease=outbox_lease)
        except Exception as e:  # noqa: BLE001 - the database may be restarting; try again next time
            log.warning("recovery sweep failed: %s", safe_error(e))
        today = beijing_today()
        if today != partitions_day and not stop_event.is_set():
            try:
                partitions.ensure_ahead(session_factory, today=today)
                partitions_day = today
            except Exception as e:  # noqa: BLE001 - tried again at the next sweep
                log.warning("creating position partitions ahead failed: %s", safe_error(e))
        stop_event.wait(interval_s)


@dataclass
class Sweeper:
    """A running :func:`run_forever` thread; :meth:`stop` ends it."""

    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loop to end and wait for it (a sweep in progress finishes its current message first)."""
        self.stop_event.set()
        self.thread.join(timeout_s)


def start(session_factory: Callable[[], Session], **kw) -> Sweeper:
    """Run :func:`run_forever` in a daemon thread; keyword arguments go to it."""
    stop_event = threading.Event()
    thread = threading.Thread(target=run_forever, args=(stop_event, session_factory), kwargs=kw,
                              name="wlhy-recovery", daemon=True)
    thread.start()
    return Sweeper(thread, stop_event)
