"""``wlhy alarms``: evaluate the alarm rates now (with dead letters, overdue rectifications, due appeals), list."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from cli.output import console

app = typer.Typer(help="Alarms (报警): rates per operator × anomaly group against the thresholds, the Ministry "
                       "forwarder's dead letters, rectification follow-up and appeals.", no_args_is_help=True)


@app.command("evaluate")
def alarms_evaluate(
    full: bool = typer.Option(True, "--full/--rates-only",
                              help="also dead letters, overdue rectifications and due appeals (the periodic tick)"),
) -> None:
    """Run the evaluation once and print what it raised, escalated and decided."""
    from sqlalchemy.orm import Session

    from store.db import ensure_database, get_engine
    from supervision.alarms import service
    from supervision.alarms.jobs import tick

    with Session(get_engine(ensure_database())) as s:
        if full:
            out = tick(s)
        else:
            ev = service.evaluate(s)
            out = {"raised": len(ev.raised), "escalated": len(ev.escalated), "refreshed": ev.refreshed}
        s.commit()
    table = Table("what", "count", title="alarm evaluation")
    for k, v in out.items():
        table.add_row(k, str(v))
    console.print(table)
    if out.get("appealsPastDue"):
        console.print(f"[red]appeals past due, not decided (registry unavailable): {out['appealsPastDue']}[/red]")
        raise typer.Exit(1)


@app.command("list")
def alarms_list(
    open_only: bool = typer.Option(False, "--open", help="only alarms not CLOSED"),
    status: str = typer.Option(None, help="OPEN, ACKNOWLEDGED, RECTIFICATION_SUBMITTED, ACCEPTED, REJECTED, CLOSED"),
    group: str = typer.Option(None, help="INTAKE, QUAL, NETWORK, TRACK, MATCH, DUPLICATE, DEAD_LETTER"),
    limit: int = typer.Option(100, min=1),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table"),
) -> None:
    """The alarms, newest first (the system's view: every division)."""
    from sqlalchemy.orm import Session

    from auth.scope import Scope
    from store.db import ensure_database, get_engine
    from supervision.alarms import service

    with Session(get_engine(ensure_database())) as s:
        p = service.list_alarms(db_session=s, scope=Scope.system(), limit=limit,
                                filters=service.AlarmFilter(status=status, group=group, open_only=open_only))
        rows = [service.as_dict(a) for a in p.items]
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r, default=str, ensure_ascii=False))
        return
    table = Table("id", "operator", "group", "level", "rate", "status", "division", "raised", title=f"{p.total} alarms")
    for r in rows:
        table.add_row(str(r["id"]), str(r["operatorId"] or "—"), r["group"], r["level"], f"{r['rate']:.1%}"
                      if r["kind"] == "rate" else f"{int(r['rate'])} dead", r["status"], r["divisionCode"] or "",
                      r["raisedAt"].strftime("%Y-%m-%d %H:%M"))
    console.print(table)
