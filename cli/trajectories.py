"""``wlhy verify``: verification back-fill over a date range (registered on the ``wlhy`` Typer app)."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["verify", "worker"]


def verify(
    date_from: str = typer.Option(..., "--from", help="first Beijing day, YYYY-MM-DD"),
    date_to: str = typer.Option(..., "--to", help="last Beijing day, YYYY-MM-DD (included)"),
    scheduler: str | None = typer.Option(
        None, help="Dask scheduler address (tcp://host:8786); 'inline' for no Dask; default a local cluster"),
) -> None:
    """Verify every waybill despatched in the range (trajectory rules, cross-waybill rules, density roll-up)."""
    from store.db import database_url
    from supervision.statistics.density import rollup_density
    from trajectories.backfill import verify_range

    try:
        d0, d1 = dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to)
    except ValueError as e:
        raise typer.BadParameter(f"dates must be YYYY-MM-DD: {e}") from None
    if d1 < d0:
        raise typer.BadParameter(f"--to ({d1}) is before --from ({d0})")
    counts = verify_range(database_url(), d0, d1, scheduler=scheduler, progress=True, after_day=rollup_density)
    table = Table("verdict / rule", "count", title=f"verification {d0} – {d1}")
    for key in ("PASS", "SUSPECT", "FAIL", "NO_DATA", "TRACK_DUPLICATED", "TRACK_VEHICLE_OVERLAP"):
        table.add_row(key, str(counts.get(key, 0)))
    Console().print(table)


def worker(
    scan_every_s: float = typer.Option(60.0, help="how often to look for completed waybills to verify"),
    lookback_days: int = typer.Option(30, help="how far back the scan looks for unverified completed waybills"),
) -> None:
    """Verify waybills as they complete: a periodic scan enqueues them (receipt + 2 h), a worker runs the queue."""
    import threading

    from sqlalchemy.orm import sessionmaker

    from store.db import get_engine
    from trajectories.jobs import Worker, enqueue_due_verifications

    factory = sessionmaker(get_engine(), expire_on_commit=False)
    stop = threading.Event()

    def scan() -> None:
        while not stop.is_set():
            with factory() as s:
                n = enqueue_due_verifications(s, lookback=dt.timedelta(days=lookback_days))
                s.commit()
            if n:
                Console().print(f"queued {n} waybills for verification")
            stop.wait(scan_every_s)

    threading.Thread(target=scan, daemon=True).start()
    try:
        Worker(factory).run(stop=stop)
    except KeyboardInterrupt:
        stop.set()
