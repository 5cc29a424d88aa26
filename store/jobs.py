"""A PostgreSQL job queue on table ``job``: enqueue, claim with ``FOR UPDATE SKIP LOCKED``, run with retries.

No broker: the database that holds the waybills holds the queue, so a job is enqueued in the same transaction
as the data it is about. Two workers never run the same job: a claim is one ``UPDATE … WHERE id = (SELECT … FOR
UPDATE SKIP LOCKED)`` committed before the handler starts, so a second worker either skips the locked row or sees
it already ``running``. A job whose worker died is taken again once its lease (``locked_at``) has expired.

Handlers are given by whoever runs the worker (``wlhy worker`` joins verification's and the document rules'),
so this module knows no job kind.

Job statuses: ``pending`` → ``running`` → ``done``, or back to ``pending`` (retry with back-off) and finally
``failed`` after ``max_attempts``; ``superseded`` when a retry finds a newer pending job with the same key.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, sessionmaker

from store.db import pg, safe_error
from store.models import Job

__all__ = ["KIND_DOCUMENT_RULES", "KIND_RANKING", "KIND_STATISTICS",
           "ClaimedJob", "Handler", "Worker", "claim", "enqueue", "enqueue_sql",
           "worker_name"]

#: Kinds enqueued by a layer below the one that handles them are named here, the one place both can see:
#: intake queues the document rules of supervision for each accepted waybill (payload ``{"waybill_ids": […]}``).
KIND_DOCUMENT_RULES = "document_rules"
#: Triggers on ``waybill`` and ``verification`` (migration 0013) queue the statistics roll-up of the operator × days
#: they marked in ``stat_dirty`` (key ``statistics:dirty``; supervision.statistics.jobs handles it).
KIND_STATISTICS = "statistics"
#: Triggers on ``anomaly``, ``waybill`` and ``verification`` (migration 0012) queue the recomputation of the indicators
#: of the operator × days they marked in ``rank_dirty`` (key ``ranking:dirty``; supervision.indicators.jobs handles it).
KIND_RANKING = "ranking"

log = logging.getLogger(__name__)

Handler = Callable[[Session, dict[str, Any]], Any]


def worker_name() -> str:
    """A name that tells which process and thread holds a job: ``host:pid:thread``."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"[:64]


# Straight to psycopg (store.db.pg): intake enqueues a job per accepted document, and ``Session.execute`` of a
# Core INSERT costs several times the round trip's own Python.  ``status`` and ``attempts`` are the columns'
# defaults, ``run_after`` defaults to now() (created_at_col).
_ENQUEUE_SQL = ("INSERT INTO job (kind, key, payload{run_after}) "
                "VALUES (%(kind)s::varchar, %(key)s::text, %(payload)s::jsonb{run_after_value}) "
                "ON CONFLICT (kind, key) WHERE status = 'pending' DO NOTHING RETURNING id")
_ENQUEUE = _ENQUEUE_SQL.format(run_after="", run_after_value="")
_ENQUEUE_AT = _ENQUEUE_SQL.format(run_after=", run_after", run_after_value=", %(run_after)s::timestamptz")
_PENDING_ID = "SELECT id FROM job WHERE kind = %(kind)s::varchar AND key = %(key)s::text AND status = 'pending'"


def enqueue_sql(payload_sql: str | None = None) -> str:
    """:func:`enqueue` as a statement for a caller's own round trip (``etl.intake.documents.insert_row``'s
    ``then``), returning nothing: parameters ``job_kind``, ``job_key`` and ``job_payload`` (jsonb); or, with
    ``payload_sql`` (a query of one jsonb column ``payload``, rows or none), a job for each row it gives."""
    source = ("VALUES (%(job_kind)s::varchar, %(job_key)s::text, %(job_payload)s::jsonb)" if payload_sql is None else
              f"SELECT %(job_kind)s::varchar, %(job_key)s::text, q.payload FROM ({payload_sql}) AS q")
    return (f"INSERT INTO job (kind, key, payload) {source} "
            "ON CONFLICT (kind, key) WHERE status = 'pending' DO NOTHING")


def enqueue(
    session: Session,
    kind: str,
    key: str,
    payload: dict[str, Any] | None = None,
    *,
    run_after: dt.datetime | None = None,
) -> int:
    """Queue a job unless one with the same ``(kind, key)`` is already pending; return the pending job's id.

    Parameters
    ----------
    session : Session
        The caller owns the transaction (nothing is committed here), so a job can be queued atomically with
        the data it concerns.
    kind : str
        Which handler runs it (e.g. ``"verify_waybill"``).
    key : str
        What it is about (e.g. ``"waybill:42"``); a second enqueue while the first is pending changes nothing.
    payload : dict, optional
        JSON arguments for the handler.
    run_after : datetime, optional
        Aware time before which the job is not claimed (default: now).

    Returns
    -------
    int
        Id of the pending job (new or existing).
    """
    values: dict[str, Any] = dict(kind=kind, key=key, payload=Jsonb(payload or {}))
    if run_after is not None:
        values["run_after"] = run_after
    conn = pg(session)
    new = conn.execute(_ENQUEUE if run_after is None else _ENQUEUE_AT, values).fetchone()
    if new is not None:
        return new[0]
    found = conn.execute(_PENDING_ID, values).fetchone()
    if found is None:  # as scalar_one() did: the pending job left between the two statements
        raise NoResultFound("no pending job with this kind and key")
    return found[0]


_CLAIM_SQL = text(
    """
    UPDATE job SET status = 'running', locked_by = :worker, locked_at = now(), attempts = attempts + 1
    WHERE id = (
        SELECT id FROM job
        WHERE ((status = 'pending' AND run_after <= now())
               OR (status = 'running' AND locked_at < now() - make_interval(secs => :lease_s)))
          AND (CAST(:kinds AS text[]) IS NULL OR kind = ANY(CAST(:kinds AS text[])))
        ORDER BY run_after, id
        FOR UPDATE SKIP LOCKED
        LIMIT 1
    )
    RETURNING id, kind, key, payload, attempts
    """
)


@dataclass(frozen=True)
class ClaimedJob:
    """A job taken by one worker."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int


def claim(
    session: Session, *, worker: str, kinds: list[str] | None = None, lease_s: float = 900.0
) -> ClaimedJob | None:
    """Take the next due job for ``worker`` (``running``, attempts + 1); ``None`` when nothing is due.

    The caller must commit right after, before running the job, so that other workers see it taken.
    A ``running`` job whose lock is older than ``lease_s`` (its worker died) is taken again.
    """
    row = session.execute(_CLAIM_SQL, {"worker": worker, "lease_s": lease_s, "kinds": kinds}).one_or_none()
    if row is None:
        return None
    return ClaimedJob(id=row.id, kind=row.kind, key=row.key, payload=row.payload or {}, attempts=row.attempts)


@dataclass
class Worker:
    """Runs jobs from the queue, one at a time, each in its own transaction.

    Parameters
    ----------
    session_factory : sessionmaker
        Makes the sessions (the worker owns its transactions).
    name : str, optional
        Written to ``locked_by`` (default :func:`worker_name`).
    handlers : mapping of kind to callable(session, payload)
        Which kinds this worker runs (``trajectories.jobs.verification_handlers()``, …).
    max_attempts : int
        After this many failures the job is ``failed`` (``last_error`` keeps the traceback's last lines).
    backoff_s : float
        Retry delay after the first failure; doubles with each further attempt.
    lease_s : float
        A running job whose worker has been silent this long is taken again.
    """

    session_factory: sessionmaker
    name: str = field(default_factory=worker_name)
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    max_attempts: int = 5
    backoff_s: float = 30.0
    lease_s: float = 900.0

    def run_once(self) -> bool:
        """Claim and run one due job; ``False`` when none was due."""
        with self.session_factory() as s:
            job = claim(s, worker=self.name, kinds=list(self.handlers), lease_s=self.lease_s)
            s.commit()
        if job is None:
            return False
        try:
            with self.session_factory() as s:
                self.handlers[job.kind](s, dict(job.payload))
                s.execute(update(Job).where(Job.id == job.id).values(status="done", last_error=None))
                s.commit()
        except Exception as e:  # noqa: BLE001 - any handler failure is recorded on the job and retried
            log.warning("job %s (%s %s) failed on attempt %s: %s", job.id, job.kind, job.key, job.attempts,
                        safe_error(e))
            self._fail(job, "".join(traceback.format_exception(e))[-4000:])
        return True

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        max_jobs: int | None = None,
        stop_when_idle: bool = False,
        idle_sleep_s: float = 1.0,
    ) -> int:
        """The worker loop: run due jobs until ``stop`` is set, ``max_jobs`` ran, or (optionally) none is due.

        Returns
        -------
        int
            Number of jobs run (successful or not).
        """
        ran = 0
        while not (stop is not None and stop.is_set()) and (max_jobs is None or ran < max_jobs):
            if self.run_once():
                ran += 1
                continue
            if stop_when_idle:
                break
            if stop is not None:
                stop.wait(idle_sleep_s)
            else:
                time.sleep(idle_sleep_s)
        return ran

    def _fail(self, job: ClaimedJob, error: str) -> None:
        with self.session_factory() as s:
            if job.attempts >= self.max_attempts:
                values: dict[str, Any] = dict(status="failed")
            else:
                newer = s.scalar(select(Job.id).where(
                    Job.kind == job.kind, Job.key == job.key, Job.status == "pending", Job.id != job.id))
                delay_s = self.backoff_s * 2 ** (job.attempts - 1)
                values = dict(status="superseded") if newer is not None else dict(
                    status="pending", run_after=func.now() + dt.timedelta(seconds=delay_s))
            s.execute(update(Job).where(Job.id == job.id).values(last_error=error, locked_by=None, **values))
            s.commit()
