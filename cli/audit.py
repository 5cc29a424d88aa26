"""``wlhy audit``: the audit log's SM3 hash chain."""

from __future__ import annotations

import typer

from cli.output import console

app = typer.Typer(help="The audit log (审计日志).", no_args_is_help=True)


@app.command("verify")
def audit_verify() -> None:
    """Recompute the SM3 chain of the audit log; exit 1 and name the place when a row was edited or deleted."""
    from auth import audit
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database(migrate=False)) as session:
        check = audit.verify(session)
    if check.intact:
        console.print(f"[green]audit chain intact[/] ({check.rows:,} rows)")
        return
    console.print(f"[red]audit chain broken at position {check.broken_at}[/]: {check.reason}")
    raise typer.Exit(1)
