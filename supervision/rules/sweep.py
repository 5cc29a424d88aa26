"""The daily sweep of the document rules over a date range (``wlhy rules sweep``), in one session or on Dask.

``sweep`` checks the waybills of a range, and its fund flows (:mod:`supervision.rules.fund_flows`), in one session
(the caller commits). ``sweep_range`` runs one task per Beijing day (of goods receipt for a waybill, of the last
payment for a fund flow), each with its own engine and registry clients, inline or on Dask like
``wlhy verify`` (trajectories/backfill.py); days are independent, and the registry answers are shared through the
``registry_answer`` cache, so every licence, certificate and plate is asked once per day of running whichever
task asks first. Both give the same anomalies.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from core.beijing import day_bounds
from core.local_cluster import local_cluster
from supervision.rules.duplicates import CODE as DUPLICATE
from supervision.rules.duplicates import check_duplicates
from supervision.rules.fund_flows import check_fund_flows
from supervision.rules.parties import CODE as UNKNOWN_PARTY
from supervision.rules.parties import check_parties
from supervision.rules.qualifications import check_qualifications
from supervision.rules.registry import Registries, prune
from supervision.rules.waybills import check_waybills

__all__ = ["PENDING_KEY", "sweep", "sweep_day", "sweep_range"]

#: Key of the count of rules left "not checked yet" (a registry was down) in a sweep's result.
PENDING_KEY = "pending_check"


def sweep(session: Session, date_from: dt.date, date_to: dt.date, *, chunk: int = 2000,
          now: dt.datetime | None = None, progress: Callable[[int, int], object] | None = None,
          registries: Registries | None = None, commit: bool = False, prune_cache: bool = True) -> dict[str, int]:
    """Check every production waybill whose goods receipt falls on the Beijing days ``date_from``..``date_to``,
    and every production fund flow last paid on those days (the day the upload-timeliness indicator counts it
    on); the caller commits (``commit`` commits per chunk). ``progress(done, total)`` hears each chunk (waybills
    and fund flows together). Returns how many fired per code, and under ``pending_check`` how many rules a
    registry outage left to a retry job."""
    lo, hi = day_bounds(date_from, date_to)
    ids = session.scalars(text("SELECT id FROM waybill WHERE receipt_at >= :lo AND receipt_at < :hi "
                               "AND NOT is_sandbox ORDER BY id"), {"lo": lo, "hi": hi}).all()
    flows = session.scalars(_FUND_FLOWS_SQL, {"lo": lo, "hi": hi}).all()
    own = registries is None
    reg = registries if registries is not None else Registries()
    if prune_cache:
        prune(session, reg.today)
    total: Counter[str] = Counter()
    work = ([(list(ids[k:k + chunk]), False) for k in range(0, len(ids), chunk)]
            + [(list(flows[k:k + chunk]), True) for k in range(0, len(flows), chunk)])
    done, count = 0, len(ids) + len(flows)
    try:
        for part, is_fund_flows in work:
            for attempt in range(_DEADLOCK_RETRIES + 1 if commit else 1):
                try:
                    if is_fund_flows:
                        fired = check_fund_flows(session, part)
                    else:
                        fired = _check_chunk(session, part, now, reg)
                    if commit:
                        session.commit()
                    break
                except OperationalError as e:
                    # parallel day tasks write the same ledger rows and queue rows: a deadlock victim redoes its
                    # chunk (it committed nothing), after a short random wait
                    if not commit or attempt == _DEADLOCK_RETRIES or getattr(e.orig, "sqlstate", "") not in (
                            "40P01", "40001"):
                        raise
                    session.rollback()
                    time.sleep(random.uniform(0.05, 0.5) * (attempt + 1))
            total.update({c: n for c, n in fired.items() if n})
            done += len(part)
            if progress is not None:
                progress(done, count)
    finally:
        if own:
            reg.close()
    return dict(total)


_DEADLOCK_RETRIES = 5

# The fund flows of a range: by the day of their last payment, as supervision.indicators counts them (a fund flow
# without payment times by its sendToPro time).
_FUND_FLOWS_SQL = text("""
    SELECT id FROM fund_flow
    WHERE coalesce(last_paid_at, send_to_pro_at) >= :lo AND coalesce(last_paid_at, send_to_pro_at) < :hi
      AND NOT is_sandbox ORDER BY id
""")


def _check_chunk(session: Session, part: list[int], now: dt.datetime | None, reg: Registries) -> dict[str, int]:
    fired = check_waybills(session, part, now=now)
    fired[DUPLICATE] = check_duplicates(session, part)
    fired[UNKNOWN_PARTY] = check_parties(session, part)
    out = check_qualifications(session, part, reg)
    fired.update({c: fired.get(c, 0) + n for c, n in out.fired.items()})
    fired[PENDING_KEY] = sum(out.pending.values())
    return fired


def sweep_day(url: str, day: dt.date, *, yunzheng_url: str | None = None, national_url: str | None = None,
              now: dt.datetime | None = None, today: dt.date | None = None, chunk: int = 2000) -> dict[str, int]:
    """One Dask task: sweep one Beijing day in its own engine and session, committing per chunk."""
    engine = create_engine(url, poolclass=NullPool)
    reg = Registries.from_urls(yunzheng_url, national_url, today=today, cache_engine=engine)
    try:
        with Session(engine) as s:
            out = sweep(s, day, day, chunk=chunk, now=now, registries=reg, commit=True, prune_cache=False)
            s.commit()
            return out
    finally:
        reg.close()
        engine.dispose()


def sweep_range(url: str, date_from: dt.date, date_to: dt.date, *, scheduler: str | None = "inline",
                yunzheng_url: str | None = None, national_url: str | None = None, now: dt.datetime | None = None,
                today: dt.date | None = None, n_workers: int | None = None, processes: bool = True,
                on_day: Callable[[dt.date, dict[str, int]], object] | None = None) -> dict[str, int]:
    """Sweep ``date_from``..``date_to`` one task per day: ``scheduler`` ``"inline"`` (this process), ``"dask"``
    (a local cluster, one single-threaded worker per core), or a Dask scheduler address (``tcp://host:8786``).
    ``on_day(day, counts)`` hears each finished day. Returns the summed counts."""
    if date_to < date_from:
        raise ValueError(f"date_to ({date_to}) is before date_from ({date_from})")
    days = [date_from + dt.timedelta(days=k) for k in range((date_to - date_from).days + 1)]
    kw = {"yunzheng_url": yunzheng_url, "national_url": national_url, "now": now, "today": today}
    engine = create_engine(url, poolclass=NullPool)
    try:
        with Session(engine) as s:  # once, not in every day's task (concurrent deletes would only contend)
            prune(s, today)
            s.commit()
    finally:
        engine.dispose()
    total: Counter[str] = Counter()
    if scheduler in (None, "inline"):
        for day in days:
            counts = sweep_day(url, day, **kw)
            total.update(counts)
            if on_day is not None:
                on_day(day, counts)
        return dict(total)
    from dask.distributed import Client, as_completed

    cluster = None
    if scheduler == "dask":
        cluster = local_cluster(n_workers, processes=processes)
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            futures = {client.submit(sweep_day, url, day, **kw, key=f"rules-sweep-{day.isoformat()}",
                                     pure=False): day for day in days}
            for future in as_completed(futures):
                counts = future.result()
                total.update(counts)
                if on_day is not None:
                    on_day(futures[future], counts)
    finally:
        if cluster is not None:
            cluster.close()
    return dict(total)
