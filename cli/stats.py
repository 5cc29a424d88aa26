"""``wlhy stats``: re-derive the statistics (business scale, OD flows, density; then indicators and rankings)."""

from __future__ import annotations

import datetime as dt

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.output import console, day_range

app = typer.Typer(help="Statistics (统计): business scale, OD flows, density; `rebuild` re-derives a date range.",
                  no_args_is_help=True)


@app.command("rebuild")
def stats_rebuild(
    date_from: str = typer.Option(..., "--from", help="first Beijing day, YYYY-MM-DD"),
    date_to: str = typer.Option(..., "--to", help="last Beijing day (included)"),
    density: bool = typer.Option(True, help="also roll up the position density of each day"),
) -> None:
    """Re-derive every statistic of the range, one committed day at a time, then indicators and rankings."""
    from store.db import ensure_database, session_scope
    from supervision.statistics.rollup import RollupCounts, rebuild

    d0, d1 = day_range(date_from, date_to)
    url = ensure_database()
    total = RollupCounts()
    with Progress(TextColumn("re-deriving days"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[day]}"), console=console) as bar:
        task = bar.add_task("days", total=(d1 - d0).days + 1, day="")
        day = d0
        while day <= d1:  # one transaction per day: a long range never holds one huge transaction
            with session_scope(url) as s:
                total.add(rebuild(s, day, day, density=density))
                s.commit()
            bar.update(task, advance=1, day=day.isoformat())
            day += dt.timedelta(days=1)
    table = Table("what", "rows", title=f"statistics {d0} – {d1}")
    table.add_row("days", f"{total.days:,}")
    table.add_row("waybills", f"{total.waybills:,}")
    table.add_row("stat_daily rows", f"{total.stat_rows:,}")
    table.add_row("od_flow rows", f"{total.od_rows:,}")
    table.add_row("density_daily rows", f"{total.density_rows:,}")
    console.print(table)
    from supervision.indicators import rebuild as rebuild_indicators

    with console.status("indicators, scores and rankings"), session_scope(url) as s:
        done = rebuild_indicators(s, d0, d1)
        s.commit()
    console.print(f"indicators and rankings: {len(done.get('periods', []))} periods, "
                  f"{done.get('operatorPeriods', 0)} operator-periods, configuration v{done.get('configVersion')}")
