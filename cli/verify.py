"""``wlhy verify``: verification back-fill over a date range (Dask, or inline)."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from cli.output import console, day_range


def verify(
    date_from: str = typer.Option(..., "--from", help="first Beijing day, YYYY-MM-DD"),
    date_to: str = typer.Option(..., "--to", help="last Beijing day, YYYY-MM-DD (included)"),
    scheduler: str | None = typer.Option(
        None, help="Dask scheduler address (tcp://host:8786); 'inline' for no Dask; default a local cluster"),
) -> None:
    """Verify every waybill despatched in the range (trajectory rules, cross-waybill rules, density roll-up)."""
    from store.db import database_url, ensure_database, session_scope
    from supervision.configuration import trajectory_thresholds_now
    from supervision.statistics.density import rollup_density
    from trajectories.backfill import verify_range

    d0, d1 = day_range(date_from, date_to)
    with session_scope(ensure_database()) as session:
        thresholds = trajectory_thresholds_now(session)  # the configuration's, as the worker's jobs use
    started = time.perf_counter()
    counts = verify_range(database_url(), d0, d1, scheduler=scheduler, progress=True, after_day=rollup_density,
                          thresholds=thresholds)
    took = time.perf_counter() - started
    table = Table("verdict / rule", "count", title=f"verification {d0} – {d1}")
    for key in ("PASS", "SUSPECT", "FAIL", "NO_DATA", "TRACK_DUPLICATED", "TRACK_VEHICLE_OVERLAP"):
        table.add_row(key, str(counts.get(key, 0)))
    console.print(table)
    n = sum(counts.get(k, 0) for k in ("PASS", "SUSPECT", "FAIL", "NO_DATA"))
    console.print(f"{n} waybill items in {took:.1f} s: {n / max(took, 1e-9):.1f} waybills/s "
                  f"({scheduler or 'local Dask cluster'}, cluster start-up included)")
