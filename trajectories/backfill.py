"""Verification back-fills on Dask: one task per Beijing day, each with its own database session.

A day's task verifies every waybill vehicle item despatched that day through
:func:`trajectories.verification.verify_items` (one read of all the day's fixes per chunk, not one query per
waybill) and rolls up the day's density, committing per chunk. Days are independent, so the same code runs on a
local cluster (default: ``dask.distributed.LocalCluster``, one process per core) or, with ``scheduler``, on any Dask
cluster whose workers reach the database. ``scheduler="inline"`` runs the same tasks in this process. The
cross-waybill rules run once for the whole range, as one more task (:func:`crosscheck_days`): the copy check reads
the app fixes up to 7 days either side of what it checks, so running it per day read each day's fixes up to 15
times.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from core.beijing import day_bounds
from core.local_cluster import local_cluster
from store.models import WaybillVehicle

if TYPE_CHECKING:
    from trajectories.verify import Thresholds

__all__ = ["CHUNK_ITEMS", "crosscheck_days", "verify_day", "verify_range"]

CHUNK_ITEMS = 500


DayHook = Callable[[Session, dt.date], object]


def verify_day(url: str, day: dt.date, *, chunk: int = CHUNK_ITEMS, crosscheck: bool = True,
               after_day: DayHook | None = None, thresholds: Thresholds | None = None) -> dict[str, int]:
    """Verify the items despatched on one Beijing day; return counts per verdict and per cross-waybill code.

    Opens and disposes its own engine (a Dask task must not share connections with the client process).
    ``after_day(session, day)`` runs last in the same transaction: the layers above hook their day roll-ups in
    here (``wlhy verify`` passes the density roll-up) without this layer importing them.
    """
    from trajectories.crosscheck import crosscheck_range
    from trajectories.fixes import signed_app_fixes
    from trajectories.signatures import index_items
    from trajectories.verification import verify_items

    engine = create_engine(url, poolclass=NullPool)
    counts: Counter[str] = Counter()
    t0, t1 = day_bounds(day)
    try:
        with Session(engine) as s:
            ids = s.scalars(select(WaybillVehicle.id).where(
                WaybillVehicle.despatch_at >= t0, WaybillVehicle.despatch_at < t1)
                .order_by(WaybillVehicle.id)).all()
            for k in range(0, len(ids), chunk):
                part = list(ids[k:k + chunk])
                counts.update(r.verdict for r in verify_items(s, part, thresholds=thresholds))
                # The live worker looks new tracks up in this index: back-filled tracks belong in it too. The
                # items are in the session already; their app fixes are read column-wise here (signed_app_fixes).
                items = s.scalars(select(WaybillVehicle).where(WaybillVehicle.id.in_(part))).all()
                index_items(s, part, app=signed_app_fixes(s, items))
                s.commit()
            if crosscheck:
                counts.update(crosscheck_range(s, day, day))
            if after_day is not None:
                after_day(s, day)
            s.commit()
    finally:
        engine.dispose()
    return dict(counts)


def crosscheck_days(url: str, date_from: dt.date, date_to: dt.date) -> dict[str, int]:
    """The cross-waybill rules (:func:`trajectories.crosscheck.crosscheck_range`) for the items despatched from
    ``date_from`` to ``date_to``, in one transaction on its own engine (a Dask task); returns the counts per code."""
    from trajectories.crosscheck import crosscheck_range

    engine = create_engine(url, poolclass=NullPool)
    try:
        with Session(engine) as s:
            counts = crosscheck_range(s, date_from, date_to)
            s.commit()
    finally:
        engine.dispose()
    return counts


def _days(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    if date_to < date_from:
        raise ValueError(f"date_to ({date_to}) is before date_from ({date_from})")
    return [date_from + dt.timedelta(days=k) for k in range((date_to - date_from).days + 1)]


def verify_range(
    url: str,
    date_from: dt.date,
    date_to: dt.date,
    *,
    scheduler: str | None = None,
    progress: bool = True,
    n_workers: int | None = None,
    processes: bool = True,
    after_day: DayHook | None = None,
    thresholds: Thresholds | None = None,
) -> dict[str, int]:
    """Verify every waybill item despatched from ``date_from`` to ``date_to`` (Beijing days, both included).

    Parameters
    ----------
    url : str
        SQLAlchemy URL of the database (each task connects itself).
    date_from, date_to : date
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``) to scale out; ``"inline"`` to run the day tasks in
        this process; default a ``LocalCluster`` with one single-threaded process per core.
    progress : bool
        Show a rich progress bar (days done).
    n_workers : int, optional
        Workers of the local cluster (default: the number of cores).
    processes : bool
        Local cluster workers as processes (default; the verification is CPU-bound Python) or threads
        (starts in a fraction of the time: tests).
    after_day : callable, optional
        ``after_day(session, day)`` after each day's verification (a module-level function: Dask pickles it).
    thresholds : Thresholds, optional
        The TRACK_* rules' thresholds (``wlhy verify`` passes the configuration's; default spec/RULES.md's).

    Returns
    -------
    dict
        Counts per verdict (``PASS``, ``SUSPECT``, ``FAIL``, ``NO_DATA``) and per cross-waybill anomaly code.
    """
    days = _days(date_from, date_to)
    total: Counter[str] = Counter()
    with _Bar(progress, len(days)) as bar:
        if scheduler == "inline":
            for day in days:
                total.update(verify_day(url, day, crosscheck=False, after_day=after_day, thresholds=thresholds))
                bar.advance()
            total.update(crosscheck_days(url, date_from, date_to))
            return dict(total)
        from dask.distributed import Client, as_completed

        cluster = None
        if scheduler is None:
            cluster = local_cluster(n_workers, processes=processes)
        try:
            with Client(scheduler or cluster) as client:
                futures = [client.submit(verify_day, url, day, crosscheck=False, after_day=after_day,
                                         thresholds=thresholds, key=f"verify-day-{day.isoformat()}", pure=False)
                           for day in days]
                # The cross-waybill rules read positions and waybills only, not the days' verdicts: they can run
                # next to the day tasks.
                cross = client.submit(crosscheck_days, url, date_from, date_to,
                                      key=f"crosscheck-{date_from.isoformat()}-{date_to.isoformat()}", pure=False)
                for future in as_completed(futures):
                    total.update(future.result())
                    bar.advance()
                total.update(cross.result())
        finally:
            if cluster is not None:
                cluster.close()
    return dict(total)


class _Bar:
    """A rich progress bar over days, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("verifying days"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn())
            self._progress.__enter__()
            self._task = self._progress.add_task("days", total=self.total)
        return self

    def advance(self) -> None:
        if self.enabled:
            self._progress.advance(self._task)

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._progress.__exit__(*exc)
