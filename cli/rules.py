"""``wlhy rules``: the document rules of spec/RULES.md §1 over a date range (the daily sweep)."""

from __future__ import annotations

import datetime as dt

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.output import console

app = typer.Typer(help="Document rules (单据规则): INTAKE_LATE, INTAKE_TIME_ORDER, MATCH_*, DUPLICATE_WAYBILL.",
                  no_args_is_help=True)


@app.command("sweep")
def rules_sweep(
    date_from: str = typer.Option(..., "--from", help="first Beijing day of goods receipt, YYYY-MM-DD"),
    date_to: str = typer.Option(..., "--to", help="last Beijing day (included)"),
) -> None:
    """Check every waybill received in the range; anomalies recorded, and resolved where the cause is gone."""
    from store.db import ensure_database, session_scope
    from supervision.rules.sweep import sweep

    try:
        d0, d1 = dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to)
    except ValueError as e:
        raise typer.BadParameter(f"dates must be YYYY-MM-DD: {e}") from None
    with session_scope(ensure_database()) as session, Progress(
            TextColumn("checking waybills"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console) as bar:
        task = bar.add_task("waybills", total=None)
        fired = sweep(session, d0, d1,
                      progress=lambda done, total: bar.update(task, completed=done, total=total))
    table = Table("rule", "fired", title=f"document rules {d0} – {d1}")
    for code, n in sorted(fired.items()):
        table.add_row(code, f"{n:,}")
    console.print(table)
