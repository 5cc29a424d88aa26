"""The alarms' periodic tick on the job queue (store.jobs): evaluate the rates, raise dead-letter alarms, escalate
overdue rectifications and decide due appeals — one job of kind ``alarms_tick`` that queues its successor.

A tick that fails rolls its successor back with it, and after the queue's last attempt it is ``failed``: the chain
would stop there until a restart. :func:`keep_ticking` (run by ``wlhy worker`` beside the queue) therefore queues
a tick again whenever none is pending or running.

A tick that was not run (the worker was down) simply runs late: every step looks at the state of the database,
not at what happened since the last run, so the first tick after an outage catches up (appeals past due are
decided then).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.db import safe_error
from store.jobs import Handler, enqueue
from store.models import Job

__all__ = ["KIND_ALARMS_TICK", "TICK_EVERY_S", "alarms_handlers", "ensure_tick", "keep_ticking", "tick"]

KIND_ALARMS_TICK = "alarms_tick"
TICK_KEY = "alarms:tick"
TICK_EVERY_S = 300.0

log = logging.getLogger(__name__)


def tick(db_session: Session, *, yunzheng=None, now: dt.datetime | None = None) -> dict[str, Any]:
    """One pass of everything periodic; returns counts (the caller commits)."""
    from etl.adapters import YunzhengClient
    from supervision.alarms import service
    from supervision.appeals import service as appeals

    requeued = _requeue_dirty(db_session)
    ev = service.evaluate(db_session, now=now)
    dead = service.raise_dead_letters(db_session, now=now)
    overdue = service.escalate_overdue(db_session, now=now)
    own = yunzheng is None
    client = YunzhengClient.from_settings() if own else yunzheng
    try:
        dec = appeals.decide_due(db_session, client, now=now)
    finally:
        if own:
            client.close()
    late = appeals.past_due(db_session, now=now)
    out = {"raised": len(ev.raised), "escalated": len(ev.escalated), "refreshed": ev.refreshed,
           "deadLetterAlarm": dead, "overdue": len(overdue), "appealsOverturned": len(dec.overturned),
           "appealsUpheld": len(dec.upheld), "appealsRegistryDown": len(dec.unavailable),
           "appealsPastDue": [a.id for a in late], "drainsQueued": requeued}
    if late:
        log.error("appeals past due and not decided (registry unavailable?): %s", out["appealsPastDue"])
    return out


def _requeue_dirty(db_session: Session) -> list[str]:
    """Queue the statistics and ranking drains when marks wait without a job: the triggers of migrations 0012/0013
    skip queueing while another transaction holds the queueing lock, and that job may run before the skipper
    commits; this tick picks such marks up."""
    from sqlalchemy import text

    from store.jobs import KIND_RANKING, KIND_STATISTICS

    queued = []
    for kind, table in ((KIND_STATISTICS, "stat_dirty"), (KIND_RANKING, "rank_dirty")):
        if db_session.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar_one():
            enqueue(db_session, kind, f"{kind}:dirty")
            queued.append(kind)
    return queued


def ensure_tick(db_session: Session, *, every_s: float = TICK_EVERY_S, delay_s: float = 0.0) -> int:
    """Queue the next tick unless one is pending or running (the caller commits)."""
    running = db_session.scalar(select(Job.id).where(Job.kind == KIND_ALARMS_TICK, Job.status == "running",
                                                     Job.key == TICK_KEY).limit(1))
    if running is not None and delay_s == 0.0:
        return running
    run_after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay_s) if delay_s else None  # None: now()
    return enqueue(db_session, KIND_ALARMS_TICK, TICK_KEY, {"every_s": every_s}, run_after=run_after)


def keep_ticking(session_factory: sessionmaker, *, stop: threading.Event, check_every_s: float = 60.0,
                 every_s: float = TICK_EVERY_S) -> None:
    """Until ``stop``: every ``check_every_s``, queue a tick unless one is pending or running (in a transaction
    of its own), so that a tick given up after its retries is followed by a new one without a worker restart."""
    while not stop.is_set():
        try:
            with session_factory() as s:
                ensure_tick(s, every_s=every_s)
                s.commit()
        except Exception as e:  # noqa: BLE001 - a database hiccup must not end the keeper; try again later
            log.warning("could not ensure the alarms tick: %s", safe_error(e))
        stop.wait(check_every_s)


def _handle(db_session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    every = float(payload.get("every_s", TICK_EVERY_S))
    out = tick(db_session)
    ensure_tick(db_session, every_s=every, delay_s=every)  # the successor, in the same transaction
    return out


def alarms_handlers(session_factory: sessionmaker | None = None, *, every_s: float = TICK_EVERY_S) -> dict[str, Handler]:
    """Handlers of the alarms' tick for ``wlhy worker``; given the worker's session factory, the first tick is
    queued now (later ones queue themselves)."""
    if session_factory is not None:
        with session_factory() as s:
            ensure_tick(s, every_s=every_s)
            s.commit()
    return {KIND_ALARMS_TICK: _handle}
