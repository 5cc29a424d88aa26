"""``wlhy rules``: the document rules of spec/RULES.md §1 over a date range (the daily sweep)."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.output import console, day_range

app = typer.Typer(help="Document rules (单据规则): INTAKE_LATE, INTAKE_TIME_ORDER, INTAKE_UNKNOWN_PARTY, MATCH_*, "
                       "DUPLICATE_WAYBILL, QUAL_* (运政 registry), VEHICLE_NOT_IN_NETWORK (national platform).",
                  no_args_is_help=True)


@app.command("sweep")
def rules_sweep(
    date_from: str = typer.Option(..., "--from", help="first Beijing day, YYYY-MM-DD: of goods receipt for "
                                                       "waybills, of the last payment for fund flows"),
    date_to: str = typer.Option(..., "--to", help="last Beijing day (included)"),
    scheduler: str = typer.Option(
        "inline", help="'inline' (this process), 'dask' (a local Dask cluster, one worker per core) or a Dask "
                       "scheduler address tcp://host:8786; one task per day"),
) -> None:
    """Check every waybill whose goods receipt falls in the range (Beijing days), and every fund flow whose last
    payment does; anomalies recorded, and resolved where the cause is gone.

    Rules a registry outage leaves undecided are listed as pending_check ("not checked yet") and retried by
    ``wlhy worker`` with back-off."""
    from store.db import ensure_database
    from supervision.rules.sweep import PENDING_KEY, sweep_range

    d0, d1 = day_range(date_from, date_to)
    url = ensure_database()
    with Progress(TextColumn("checking days"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("days", total=(d1 - d0).days + 1)
        fired = sweep_range(url, d0, d1, scheduler=scheduler,
                            on_day=lambda day, counts: bar.advance(task))
    table = Table("rule", "fired", title=f"document rules {d0} – {d1}")
    for code, n in sorted(fired.items()):
        if code != PENDING_KEY:
            table.add_row(code, f"{n:,}")
    console.print(table)
    if fired.get(PENDING_KEY):
        console.print(f"[yellow]{fired[PENDING_KEY]:,} registry checks not decided (registry unavailable): "
                      "marked pending_check, retried by `wlhy worker`[/yellow]")
