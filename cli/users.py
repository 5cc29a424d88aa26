"""``wlhy users``: people who log in (roles of spec/API.md)."""

from __future__ import annotations

import json
import secrets
from typing import Annotated

import typer

from cli.output import fail

app = typer.Typer(help="People who log in (roles of spec/API.md).", no_args_is_help=True)


@app.command("create")
def users_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin | province | city | county | analyst | operator")],
    division: Annotated[str | None, typer.Option(help="division code for province/city/county")] = None,
    operator: Annotated[str | None, typer.Option(help="the platform's USCI, for role operator")] = None,
    password: Annotated[str | None, typer.Option(help="default: a random one, printed")] = None,
) -> None:
    """Create a user and print its credentials as JSON."""
    from sqlalchemy import select

    from auth import service as auth_service
    from store.db import ensure_database, session_scope
    from store.models import Operator

    url = ensure_database(migrate=False)
    password = password or secrets.token_urlsafe(12)
    with session_scope(url) as session:
        operator_id = None
        if operator:
            operator_id = session.scalar(select(Operator.id).where(Operator.usci == operator))
            if operator_id is None:
                fail(f"no operator with USCI {operator}")
        try:
            auth_service.create(db_session=session, username=username, password=password, role=role,
                                division_code=division, operator_id=operator_id)
        except ValueError as e:
            fail(str(e))
    print(json.dumps({"username": username, "password": password, "role": role, "division_code": division,
                      "operator": operator}, ensure_ascii=False))


@app.command("reset")
def users_reset(username: str) -> None:
    """Give USERNAME a new random password and print it as JSON."""
    from auth import service as auth_service
    from core.errors import NotFoundError
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database(migrate=False)) as session:
        try:
            password = auth_service.reset_password(db_session=session, username=username, by="cli")
        except NotFoundError as e:
            fail(str(e))
    print(json.dumps({"username": username, "password": password}))


@app.command("list")
def users_list() -> None:
    """List users (no passwords) as JSON."""
    from sqlalchemy import select

    from store.db import ensure_database, session_scope
    from store.models import AppUser

    url = ensure_database(migrate=False)
    with session_scope(url) as session:
        rows = [{"username": u.username, "role": u.role, "division_code": u.division_code,
                 "operator_id": u.operator_id, "active": u.active}
                for u in session.scalars(select(AppUser).order_by(AppUser.id))]
    print(json.dumps(rows, ensure_ascii=False, indent=1))
