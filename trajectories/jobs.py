"""Verification on the job queue (store.jobs): the handlers, the scan that queues completed waybills, the loop.

Verification is enqueued by a scheduled scan (:func:`enqueue_due_verifications`) rather than by a trigger on
waybill intake: a scan is idempotent, catches waybills whose receipt time passes while nothing else happens,
and heals anything a crashed worker or a lost enqueue left behind.

Two lanes, so that the newest waybill is never starved by a back-log: waybills that became due recently (within
``live_window``) get one ``verify_waybill`` job each, due at their completion (receipt + grace), so they run in
order of completion; an older back-log (a first start, a restore, a worker that was down) is queued as
``verify_batch`` jobs of :data:`BATCH_WAYBILLS` waybills, oldest completion first, verified with one read per batch.
:func:`run_verifier` runs each lane in its own worker thread. Both run every rule a back-fill runs: the
per-waybill TRACK_* rules and the cross-waybill ones (copied tracks through the ``track_signature`` index,
vehicle overlaps; :mod:`trajectories.signatures`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from store.jobs import Handler, Worker, enqueue
from store.models import WaybillVehicle

if TYPE_CHECKING:
    from etl.adapters.national import NationalPlatformClient
    from trajectories.verify import Thresholds

__all__ = [
    "BATCH_WAYBILLS",
    "DEFAULT_HANDLERS",
    "GRACE",
    "KIND_VERIFY_BATCH",
    "KIND_VERIFY_WAYBILL",
    "enqueue_due_verifications",
    "run_verifier",
    "verification_handlers",
]

KIND_VERIFY_WAYBILL = "verify_waybill"
KIND_VERIFY_BATCH = "verify_batch"
BATCH_WAYBILLS = 200
#: How long after its goods receipt a waybill is complete: its fixes are expected to have arrived by then.
GRACE = dt.timedelta(hours=2)


def verification_handlers(national: NationalPlatformClient | None = None,
                          thresholds: Callable[[Session], Thresholds] | None = None) -> dict[str, Handler]:
    """The queue's handlers, verifying with the BeiDou track from ``national`` (the national platform) when given.

    ``wlhy worker`` and ``demo up`` pass the client built from the settings; without one, only fixes already in
    the database are used. ``thresholds`` reads the rule thresholds in force for a job (the worker passes the
    configuration's, supervision/configuration.py); without it, spec/RULES.md's defaults.
    """

    def rules_of(session: Session) -> Thresholds | None:
        return thresholds(session) if thresholds else None

    def verify(session: Session, payload: dict[str, Any]) -> Any:
        # imported here: verification pulls in the kernel and geo stack, which a bare queue user does not need
        from trajectories.signatures import crosscheck_items
        from trajectories.verification import verify_waybill

        results = verify_waybill(session, int(payload["waybill_id"]), national=national,
                                 thresholds=rules_of(session))
        crosscheck_items(session, [r.waybill_vehicle_id for r in results])
        return results

    def verify_batch(session: Session, payload: dict[str, Any]) -> Any:
        from trajectories.signatures import crosscheck_items
        from trajectories.verification import verify_items

        item_ids = session.scalars(select(WaybillVehicle.id).where(
            WaybillVehicle.waybill_id.in_([int(i) for i in payload.get("waybill_ids", [])]))).all()
        results = verify_items(session, list(item_ids), national=national, thresholds=rules_of(session))
        crosscheck_items(session, [r.waybill_vehicle_id for r in results])
        return results

    return {KIND_VERIFY_WAYBILL: verify, KIND_VERIFY_BATCH: verify_batch}


DEFAULT_HANDLERS: dict[str, Handler] = verification_handlers()


# Complete, unverified waybills not already in a job (alone or in a batch), oldest completion first.
_DUE_IDS_SQL = text(
    """
    SELECT w.id, w.receipt_at FROM waybill w
    WHERE w.receipt_at <= :due_before AND w.receipt_at > :since AND NOT w.is_sandbox
      AND NOT EXISTS (SELECT 1 FROM verification v WHERE v.waybill_id = w.id AND v.current)
      AND NOT EXISTS (SELECT 1 FROM job j WHERE j.kind = :kind AND j.key = 'waybill:' || w.id
                      AND j.status IN ('pending', 'running', 'failed'))
      AND NOT EXISTS (SELECT 1 FROM job j WHERE j.kind = :batch_kind AND j.status IN ('pending', 'running', 'failed')
                      AND j.payload -> 'waybill_ids' @> to_jsonb(w.id))
    ORDER BY w.receipt_at, w.id
    """
)
_DUE_SQL = text(
    """
    INSERT INTO job (kind, key, payload, run_after)
    SELECT CAST(:kind AS varchar), 'waybill:' || i.id, jsonb_build_object('waybill_id', i.id), i.due
    FROM unnest(CAST(:ids AS bigint[]), CAST(:due AS timestamptz[])) AS i(id, due)
    ON CONFLICT DO NOTHING
    """
)


def enqueue_due_verifications(
    session: Session,
    *,
    grace: dt.timedelta = GRACE,
    now: dt.datetime | None = None,
    lookback: dt.timedelta = dt.timedelta(days=30),
    live_window: dt.timedelta = dt.timedelta(hours=6),
) -> int:
    """Queue verification for every complete waybill (receipt + ``grace`` passed) not yet verified: one
    ``verify_waybill`` job each for those due within ``live_window``, ``verify_batch`` jobs for older ones.

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
    live_window : timedelta
        Waybills due for less than this are the live lane (a job each, due at their completion); older ones
        are the back-log (batches of :data:`BATCH_WAYBILLS`, oldest first).

    Returns
    -------
    int
        Number of waybills queued.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    due_before = now - grace
    rows = session.execute(_DUE_IDS_SQL, {
        "kind": KIND_VERIFY_WAYBILL, "batch_kind": KIND_VERIFY_BATCH, "due_before": due_before,
        "since": due_before - lookback,
    }).all()
    live = [(i, r + grace) for i, r in rows if r > due_before - live_window]
    backlog = [(i, r + grace) for i, r in rows if r <= due_before - live_window]
    queued = 0
    if live:
        queued += session.execute(_DUE_SQL, {"kind": KIND_VERIFY_WAYBILL, "ids": [i for i, _ in live],
                                             "due": [d for _, d in live]}).rowcount
    for k in range(0, len(backlog), BATCH_WAYBILLS):
        chunk = backlog[k:k + BATCH_WAYBILLS]
        enqueue(session, KIND_VERIFY_BATCH, f"waybills:{chunk[0][0]}-{chunk[-1][0]}:{len(chunk)}",
                {"waybill_ids": [i for i, _ in chunk]}, run_after=chunk[0][1])
        queued += len(chunk)
    return queued


def run_verifier(
    session_factory: sessionmaker,
    *,
    stop: threading.Event,
    national: NationalPlatformClient | None = None,
    scan_every_s: float = 60.0,
    lookback: dt.timedelta = dt.timedelta(days=30),
    on_queued: Callable[[int], None] | None = None,
    extra_handlers: Mapping[str, Handler] | None = None,
    thresholds: Callable[[Session], Thresholds] | None = None,
) -> None:
    """Verify waybills as they complete, until ``stop``: a scan queues them every ``scan_every_s`` (a thread),
    the worker runs the queue with the BeiDou track from ``national`` (and ``extra_handlers``' kinds, e.g. the
    document rules'). ``on_queued(n)`` hears each scan's count."""

    def scan() -> None:
        from trajectories.signatures import prune

        last_prune = 0.0
        while not stop.is_set():
            with session_factory() as s:
                n = enqueue_due_verifications(s, lookback=lookback)
                if time.monotonic() - last_prune > 6 * 3600:  # tracks beyond any copy's reach leave the index
                    prune(s, older_than=max(lookback, dt.timedelta(days=30)))
                    last_prune = time.monotonic()
                s.commit()
            if on_queued is not None:
                on_queued(n)
            stop.wait(scan_every_s)

    threading.Thread(target=scan, name="verify-scan", daemon=True).start()
    handlers = {**verification_handlers(national, thresholds), **(extra_handlers or {})}
    # The back-log lane has a worker of its own, so a new waybill waits for at most the job in hand, not for
    # every batch queued before it.
    backlog = Worker(session_factory, handlers={KIND_VERIFY_BATCH: handlers.pop(KIND_VERIFY_BATCH)})
    threading.Thread(target=backlog.run, kwargs={"stop": stop}, name="verify-backlog", daemon=True).start()
    Worker(session_factory, handlers=handlers).run(stop=stop)
