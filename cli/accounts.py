"""``wlhy accounts``: the platforms' exchange access accounts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.output import console, fail

app = typer.Typer(help="Platforms' exchange access accounts.", no_args_is_help=True)

_COLUMNS = ("userName", "operatorId", "status", "mode")


def _account_json(a, password: str | None = None) -> dict:
    out = {"userName": a.user_name, "operatorId": a.operator_id, "status": a.status,
           "mode": "sandbox" if a.sandbox else "production"}
    if password:
        out["passWord"] = password
    return out


@app.command("issue")
def accounts_issue(
    usci: Annotated[str, typer.Argument(help="the operator's unified social credit code")],
    name: Annotated[str | None, typer.Option(help="operator name, when the operator is new")] = None,
    production: Annotated[bool, typer.Option(help="issue directly in production mode")] = False,
) -> None:
    """Issue an exchange account for an operator and print it (with its one-time password) as JSON."""
    from etl.exchange import accounts, keys
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        try:
            op = accounts.operator_for_usci(db_session=session, usci=usci, name=name)
            issued = accounts.issue(db_session=session, operator=op, sandbox=not production)
        except accounts.AccountError as e:
            fail(str(e))
        out = _account_json(issued.account, issued.password)
        out["provincePublicKey"] = keys.ensure_current(db_session=session).public_key_hex
    print(json.dumps(out, ensure_ascii=False))


@app.command("list")
def accounts_list(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List accounts (no passwords)."""
    from etl.exchange import accounts
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        rows = [_account_json(a) for a in accounts.list_all(db_session=session)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table(title="exchange accounts")
    for col in _COLUMNS:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in _COLUMNS))
    console.print(table)


@app.command("suspend")
def accounts_suspend(user_name: str) -> None:
    """Suspend an account (no more logins; its tokens stop working within seconds)."""
    from etl.exchange import accounts
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        try:
            print(json.dumps(_account_json(accounts.suspend(db_session=session, user_name=user_name))))
        except accounts.AccountError as e:
            fail(str(e))


@app.command("reset")
def accounts_reset(user_name: str) -> None:
    """Give an account a new one-time password and print it as JSON."""
    from etl.exchange import accounts
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        try:
            issued = accounts.reset(db_session=session, user_name=user_name)
        except accounts.AccountError as e:
            fail(str(e))
        print(json.dumps(_account_json(issued.account, issued.password)))
