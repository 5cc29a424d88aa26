"""``wlhy db``: the database in use, the local cluster, migrations."""

from __future__ import annotations

import typer

from cli.output import console

app = typer.Typer(help="The database: local cluster, URL, migrations.", no_args_is_help=True)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("url")
def db_url(
    show_password: bool = typer.Option(False, "--show-password", help="include the app role's password"),
) -> None:
    """Print the database URL the app uses (WLHY_DATABASE_URL, else the local cluster under var/ as wlhy_app)."""
    from store.db import database_url

    print(database_url() if show_password else _shown(database_url()))


@app.command("start")
def db_start() -> None:
    """Initialise (once) and start the local cluster under var/pg, create the database, migrate."""
    from store.db import ensure_database

    console.print(f"[green]database ready[/] {_shown(ensure_database())}")


@app.command("stop")
def db_stop() -> None:
    """Stop the local cluster."""
    from store.db import local_cluster

    local_cluster().stop()
    console.print("local cluster stopped")


@app.command("status")
def db_status() -> None:
    """Say whether the database in use answers, and at which migration it is."""
    from sqlalchemy import create_engine, text

    from store.db import database_url

    url = database_url()
    try:
        with create_engine(url).connect() as conn:
            rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            console.print(f"[green]up[/] {_shown(url)} (migration {rev})")
    except Exception as e:  # noqa: BLE001 - report any failure to the operator
        console.print(f"[red]down[/] {_shown(url)}: {type(e).__name__}: {e}")
        raise typer.Exit(1) from None


@app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Run the Alembic migrations up to REVISION (as the owner role, WLHY_MIGRATION_DATABASE_URL)."""
    from sqlalchemy.engine import make_url

    from store.db import database_url, migration_url
    from store.migrate import upgrade

    upgrade(migration_url(), revision, app_role=make_url(database_url()).username)


@app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="target revision, e.g. base")) -> None:
    """Run the Alembic migrations down to REVISION (as the owner role, WLHY_MIGRATION_DATABASE_URL)."""
    from sqlalchemy.engine import make_url

    from store.db import database_url, migration_url
    from store.migrate import downgrade

    downgrade(migration_url(), revision, app_role=make_url(database_url()).username)
