"""``wlhy``: the one command line of the system (database, demo, server, users)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from wlhy.config import get_settings

app = typer.Typer(help="省级网络货运信息监测系统 · provincial network-freight monitoring system", no_args_is_help=True)
db_app = typer.Typer(help="The database: local cluster, URL, migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo province: generate, load, run everything.", no_args_is_help=True)
users_app = typer.Typer(help="People who log in (roles of spec/API.md).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
console = Console()


def _ensure_database(migrate: bool = True) -> str:
    """Start the local cluster when it is the one in use, create the database, migrate; return the URL."""
    from store.db import DEFAULT_DBNAME, database_url, local_cluster
    from store.migrate import upgrade

    settings = get_settings()
    if not settings.database_url:
        cluster = local_cluster()
        cluster.start()
        cluster.ensure_database(DEFAULT_DBNAME)
    url = database_url()
    if migrate:
        upgrade(url)
    return url


# --- db ---------------------------------------------------------------------------------------------------------


@db_app.command("url")
def db_url() -> None:
    """Print the database URL in use (WLHY_DATABASE_URL, else the local cluster under var/)."""
    from store.db import database_url

    print(database_url())


@db_app.command("start")
def db_start() -> None:
    """Initialise (once) and start the local cluster under var/pg, create the database, migrate."""
    url = _ensure_database()
    console.print(f"[green]database ready[/] {url}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the local cluster."""
    from store.db import local_cluster

    local_cluster().stop()
    console.print("local cluster stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the database in use answers, and at which migration it is."""
    from sqlalchemy import create_engine, text

    from store.db import database_url

    url = database_url()
    try:
        with create_engine(url).connect() as conn:
            rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            console.print(f"[green]up[/] {url} (migration {rev})")
    except Exception as e:  # noqa: BLE001 - report any failure to the operator
        console.print(f"[red]down[/] {url}: {type(e).__name__}: {e}")
        raise typer.Exit(1) from None


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Run the Alembic migrations up to REVISION."""
    from store.db import database_url
    from store.migrate import upgrade

    upgrade(database_url(), revision)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="target revision, e.g. base")) -> None:
    """Run the Alembic migrations down to REVISION."""
    from store.db import database_url
    from store.migrate import downgrade

    downgrade(database_url(), revision)


# --- demo -------------------------------------------------------------------------------------------------------


@demo_app.command("generate")
def demo_generate(
    out: Annotated[Optional[Path], typer.Option(help="output directory (default var/demo)")] = None,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same files")] = 42,
    province: Annotated[str, typer.Option(help="GB/T 2260 province code")] = "340000",
    operators: Annotated[int, typer.Option(help="number of platforms")] = 20,
    vehicles: Annotated[int, typer.Option()] = 2000,
    drivers: Annotated[int, typer.Option()] = 2200,
    days: Annotated[int, typer.Option()] = 30,
    waybills: Annotated[int, typer.Option(help="waybills over the whole period")] = 20000,
) -> None:
    """Generate a synthetic province: exchange payloads, BeiDou tracks, registry records, ground truth."""
    from etl.generator import generate
    from etl.generator.config import GeneratorConfig

    out = out or get_settings().demo_dir
    cfg = GeneratorConfig(seed=seed, province=province, operators=operators, vehicles=vehicles, drivers=drivers,
                          days=days, waybills=waybills)
    t0 = time.perf_counter()
    summary = generate(cfg, out, progress=True)
    console.print(f"generated in {time.perf_counter() - t0:.1f} s into {out}")
    console.print_json(data=summary)


@demo_app.command("load")
def demo_load(
    data_dir: Annotated[Optional[Path], typer.Option("--dir", help="generator output (default var/demo)")] = None,
    force: Annotated[bool, typer.Option(help="load even if this data set is already loaded")] = False,
) -> None:
    """Load a generated province through the intake core (idempotent)."""
    from etl.demo.load import load
    from store.db import session_scope

    data_dir = data_dir or get_settings().demo_dir
    url = _ensure_database()
    t0 = time.perf_counter()
    with session_scope(url) as session:
        summary = load(session, data_dir, force=force)
    if summary.skipped:
        console.print("demo data set already loaded; nothing to do")
    else:
        console.print(f"loaded in {time.perf_counter() - t0:.1f} s")
        console.print_json(data={"results": summary.results, "fixes": summary.fixes, "operators": summary.operators})


@demo_app.command("up")
def demo_up(
    serve_app: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the app at the end")] = True,
) -> None:
    """Everything `make demo` does: database, demo data (generated and loaded once), users, then serve."""
    from etl.demo.load import load, manifest_digest
    from etl.demo.users import ensure_demo_users
    from store.db import session_scope

    settings = get_settings()
    url = _ensure_database()
    data_dir = settings.demo_dir
    if not (data_dir / "manifest.json").exists():
        console.rule("generating the demo province")
        demo_generate(out=data_dir, seed=settings.demo_seed)
    console.rule("loading")
    t0 = time.perf_counter()
    with session_scope(url) as session:
        summary = load(session, data_dir)
    console.print("already loaded" if summary.skipped else f"loaded in {time.perf_counter() - t0:.1f} s "
                  f"({manifest_digest(data_dir)[:12]})")
    with session_scope(url) as session:
        creds = ensure_demo_users(session, province_code=settings.province_code,
                                  credentials_file=settings.var_dir / "demo-credentials.json",
                                  admin_password=settings.admin_password or None)
    _print_counts(url)
    table = Table(title="demo users (also in var/demo-credentials.json)")
    for col in ("username", "password", "role", "division_code"):
        table.add_column(col)
    for c in creds:
        table.add_row(c["username"], c["password"], c["role"], c.get("division_code", ""))
    console.print(table)
    if serve_app:
        serve()


def _print_counts(url: str) -> None:
    from sqlalchemy import create_engine, text

    tables = ("operator", "account", "vehicle", "driver", "waybill", "fund_flow", "position", "message", "outbox",
              "anomaly", "app_user")
    with create_engine(url).connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
    table = Table(title="rows")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for t, n in counts.items():
        table.add_row(t, f"{n:,}")
    console.print(table)


# --- serve ------------------------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="default WLHY_HOST or 127.0.0.1")] = None,
    port: Annotated[Optional[int], typer.Option(help="default WLHY_PORT or 8000")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the app (API under /api/v1, health at /healthz)."""
    import uvicorn

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    console.print(f"serving on [bold]http://{host}:{port}[/]  (/healthz, /api/v1, /docs)")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


# --- users ------------------------------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin | province | city | county | analyst | operator")],
    division: Annotated[Optional[str], typer.Option(help="division code for province/city/county")] = None,
    operator: Annotated[Optional[str], typer.Option(help="the platform's USCI, for role operator")] = None,
    password: Annotated[Optional[str], typer.Option(help="default: a random one, printed")] = None,
) -> None:
    """Create a user and print its credentials as JSON."""
    from sqlalchemy import select

    from api.auth import service as auth_service
    from store.db import session_scope
    from store.models import Operator

    url = _ensure_database(migrate=False)
    password = password or secrets.token_urlsafe(12)
    with session_scope(url) as session:
        operator_id = None
        if operator:
            operator_id = session.scalar(select(Operator.id).where(Operator.usci == operator))
            if operator_id is None:
                console.print(f"[red]no operator with USCI {operator}[/]")
                raise typer.Exit(2)
        try:
            auth_service.create(db_session=session, username=username, password=password, role=role,
                                division_code=division, operator_id=operator_id)
        except ValueError as e:
            console.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None
    print(json.dumps({"username": username, "password": password, "role": role, "division_code": division,
                      "operator": operator}, ensure_ascii=False))


@users_app.command("reset")
def users_reset(username: str) -> None:
    """Give USERNAME a new random password and print it as JSON."""
    from api.auth import service as auth_service
    from store.db import session_scope

    url = _ensure_database(migrate=False)
    password = secrets.token_urlsafe(12)
    with session_scope(url) as session:
        user = auth_service.get_by_username(db_session=session, username=username)
        if user is None:
            console.print(f"[red]no user {username!r}[/]")
            raise typer.Exit(2)
        user.password_hash = auth_service.hash_password(password)
    print(json.dumps({"username": username, "password": password}))


@users_app.command("list")
def users_list() -> None:
    """List users (no passwords) as JSON."""
    from sqlalchemy import select

    from store.db import session_scope
    from store.models import AppUser

    url = _ensure_database(migrate=False)
    with session_scope(url) as session:
        rows = [{"username": u.username, "role": u.role, "division_code": u.division_code,
                 "operator_id": u.operator_id, "active": u.active}
                for u in session.scalars(select(AppUser).order_by(AppUser.id))]
    print(json.dumps(rows, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    app()
