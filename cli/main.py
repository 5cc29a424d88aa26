"""``wlhy``: the one command line of the system (database, demo, server, users)."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from cli.trajectories import verify as _verify_cmd
from cli.trajectories import worker as _worker_cmd
from core.config import get_settings

app = typer.Typer(help="省级网络货运信息监测系统 · provincial network-freight monitoring system", no_args_is_help=True)
db_app = typer.Typer(help="The database: local cluster, URL, migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo province: generate, load, run everything.", no_args_is_help=True)
users_app = typer.Typer(help="People who log in (roles of spec/API.md).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
keys_app = typer.Typer(help="The province's SM2 key pairs.", no_args_is_help=True)
accounts_app = typer.Typer(help="Platforms' exchange access accounts.", no_args_is_help=True)
client_app = typer.Typer(help="The reference platform client.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")
app.add_typer(client_app, name="client")
app.command("verify")(_verify_cmd)
app.command("worker")(_worker_cmd)
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
    from simulation.generator import generate
    from simulation.generator.config import GeneratorConfig

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
    from simulation.demo.load import load
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
    serve_app: Annotated[bool, typer.Option("--serve/--no-serve", help="keep serving at the end")] = True,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 2,
    feed_workers: Annotated[int, typer.Option(help="platforms sending at once while loading")] = 4,
) -> None:
    """Everything `make demo` does: database, simulators, the app, the demo province fed through /exchange once,
    the demo users, the Ministry forwarder; then serve until Ctrl-C."""
    import subprocess
    import threading

    from simulation.demo.load import ExchangeTarget, load
    from simulation.demo.users import ensure_demo_users
    from store.db import session_scope

    settings = get_settings()
    url = _ensure_database()
    data_dir = settings.demo_dir
    if not (data_dir / "manifest.json").exists():
        console.rule("generating the demo province")
        demo_generate(out=data_dir, seed=settings.demo_seed)
    sims = _start_simulators(data_dir)
    base = f"http://{settings.host}:{settings.port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", settings.host,
         "--port", str(settings.port), "--workers", str(workers), "--log-level", "warning"],
        env=os.environ | {"WLHY_DATABASE_URL": url},
    )
    stop = threading.Event()
    try:
        _wait_healthy(base, server)
        console.rule(f"loading the demo province through {base}/exchange")
        t0 = time.perf_counter()
        with session_scope(url) as session:
            summary = load(session, data_dir, exchange=ExchangeTarget(base, workers=feed_workers))
        if summary.skipped:
            console.print("demo data set already loaded")
        else:
            console.print(f"loaded in {time.perf_counter() - t0:.0f} s")
            console.print_json(data={"results": summary.results, "fixes": summary.fixes})
        with session_scope(url) as session:
            creds = ensure_demo_users(session, province_code=settings.province_code,
                                      credentials_file=settings.var_dir / "demo-credentials.json",
                                      admin_password=settings.admin_password or None)
        forwarder = threading.Thread(target=_forward, args=(url, sims["ministry_settings"], stop), daemon=True)
        forwarder.start()
        threading.Thread(target=_verify_in_background, args=(url, stop), daemon=True).start()
        _print_counts(url)
        table = Table(title="demo users (also in var/demo-credentials.json)")
        for col in ("username", "password", "role", "division_code"):
            table.add_column(col)
        for c in creds:
            table.add_row(c["username"], c["password"], c["role"], c.get("division_code", ""))
        console.print(table)
        console.print(f"serving on [bold]{base}[/] (/healthz, /api/v1, /exchange, /docs); simulators: "
                      + ", ".join(f"{k} {v}" for k, v in sims["urls"].items()) + "; Ctrl-C stops")
        if serve_app:
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        for h in sims["handles"]:
            h.stop()


def _wait_healthy(base: str, server, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            console.print(f"[red]the app exited ({server.returncode}); is port {base.rsplit(':', 1)[-1]} taken?[/]")
            raise typer.Exit(1)
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    console.print(f"[red]the app did not answer {base}/healthz within {timeout_s:.0f} s[/]")
    raise typer.Exit(1)


def _start_simulators(data_dir: Path) -> dict:
    """Ministry (8100) and the four third-party simulators (8101–8104), seeded from the demo data."""
    from etl.forwarder.config import ForwarderSettings
    from simulation.servers.ministry_server import SimulatorServer
    from simulation.servers.runner import serve_all

    private, public = _ministry_keypair()
    fw = ForwarderSettings()
    fw = fw.model_copy(update={"user_name": fw.user_name or "340000",
                               "password": fw.password or _ministry_password(),
                               "public_key_hex": fw.public_key_hex or public})
    ministry = SimulatorServer(private, accounts={fw.user_name: fw.password},
                               port=int(fw.url.rsplit(":", 1)[-1].split("/")[0])).start()
    handles = serve_all(data_dir if data_dir.exists() else None, background=True)
    urls = {"ministry": ministry.url} | {k: h.url for k, h in handles.items()}
    return {"handles": [ministry, *handles.values()], "urls": urls, "ministry_settings": fw}


def _verify_in_background(url: str, stop) -> None:
    """Queue every completed, unverified demo waybill and verify them while the app serves."""
    import datetime as dt

    from sqlalchemy.orm import sessionmaker

    from store.db import get_engine
    from trajectories.jobs import Worker, enqueue_due_verifications

    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    with factory() as s:
        queued = enqueue_due_verifications(s, lookback=dt.timedelta(days=3650))
        s.commit()
    console.print(f"verifying {queued} waybills in the background (GET /api/v1/waybills/{{id}}/trajectory)")
    Worker(factory).run(stop=stop)


def _forward(url: str, settings, stop) -> None:
    from sqlalchemy.orm import sessionmaker

    from etl.forwarder.client import MinistryClient
    from etl.forwarder.worker import run_forever
    from store.db import get_engine

    with MinistryClient(settings) as client:
        run_forever(stop, sessionmaker(get_engine(url), expire_on_commit=False), client)


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

    from auth import service as auth_service
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
    from auth import service as auth_service
    from core import security
    from store.db import session_scope

    url = _ensure_database(migrate=False)
    password = secrets.token_urlsafe(12)
    with session_scope(url) as session:
        user = auth_service.get_by_username(db_session=session, username=username)
        if user is None:
            console.print(f"[red]no user {username!r}[/]")
            raise typer.Exit(2)
        user.password_hash = security.hash_password(password)
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


# --- keys -------------------------------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate() -> None:
    """Make the province's first SM2 key pair (refuses when one exists: rotate instead)."""
    from etl.exchange import keys
    from store.db import session_scope

    url = _ensure_database()
    with session_scope(url) as session:
        try:
            key = keys.generate(db_session=session)
        except keys.ProvinceKeyError as e:
            console.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None
        print(json.dumps({"keyId": key.key_id, "publicKey": key.public_key_hex}))


@keys_app.command("rotate")
def keys_rotate(overlap_days: Annotated[int, typer.Option(help="days the old key still decrypts")] = 30) -> None:
    """Make a new current key; the old one keeps decrypting for OVERLAP_DAYS."""
    import datetime as dt

    from etl.exchange import keys
    from store.db import session_scope

    url = _ensure_database()
    with session_scope(url) as session:
        key = keys.rotate(db_session=session, overlap=dt.timedelta(days=overlap_days))
        print(json.dumps({"keyId": key.key_id, "publicKey": key.public_key_hex, "overlapDays": overlap_days}))


@keys_app.command("export")
def keys_export() -> None:
    """Print the current province public key as hex (04‖X‖Y), made on first use."""
    from etl.exchange import keys
    from store.db import session_scope

    url = _ensure_database()
    with session_scope(url) as session:
        print(keys.ensure_current(db_session=session).public_key_hex)


# --- accounts ---------------------------------------------------------------------------------------------------


def _account_json(a, password: str | None = None) -> dict:
    out = {"userName": a.user_name, "operatorId": a.operator_id, "status": a.status,
           "mode": "sandbox" if a.sandbox else "production"}
    if password:
        out["passWord"] = password
    return out


@accounts_app.command("issue")
def accounts_issue(
    usci: Annotated[str, typer.Argument(help="the operator's unified social credit code")],
    name: Annotated[Optional[str], typer.Option(help="operator name, when the operator is new")] = None,
    production: Annotated[bool, typer.Option(help="issue directly in production mode")] = False,
) -> None:
    """Issue an exchange account for an operator and print it (with its one-time password) as JSON."""
    from sqlalchemy import select

    from etl.exchange import accounts, keys
    from etl.intake.documents import upsert_operator
    from store.db import session_scope
    from store.models import Operator

    url = _ensure_database()
    with session_scope(url) as session:
        op = session.scalars(select(Operator).where(Operator.usci == usci)).one_or_none()
        if op is None:
            if not name:
                console.print("[red]unknown operator: give --name to register it[/]")
                raise typer.Exit(2)
            op = upsert_operator(session, {"unifiedSocialCreditIdentifier": usci, "name": name})
        try:
            issued = accounts.issue(db_session=session, operator=op, sandbox=not production)
        except accounts.AccountError as e:
            console.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None
        out = _account_json(issued.account, issued.password)
        out["provincePublicKey"] = keys.ensure_current(db_session=session).public_key_hex
    print(json.dumps(out, ensure_ascii=False))


@accounts_app.command("list")
def accounts_list(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List accounts (no passwords)."""
    from etl.exchange import accounts
    from store.db import session_scope

    url = _ensure_database()
    with session_scope(url) as session:
        rows = [_account_json(a) for a in accounts.list_all(db_session=session)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table(title="exchange accounts")
    for col in ("userName", "operatorId", "status", "mode"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("userName", "operatorId", "status", "mode")))
    console.print(table)


@accounts_app.command("suspend")
def accounts_suspend(user_name: str) -> None:
    """Suspend an account (no more logins; its tokens stop working within seconds)."""
    from etl.exchange import accounts
    from store.db import session_scope

    url = _ensure_database()
    with session_scope(url) as session:
        try:
            print(json.dumps(_account_json(accounts.suspend(db_session=session, user_name=user_name))))
        except accounts.AccountError as e:
            console.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None


@accounts_app.command("reset")
def accounts_reset(user_name: str) -> None:
    """Give an account a new one-time password and print it as JSON."""
    from etl.exchange import accounts
    from store.db import session_scope

    url = _ensure_database()
    with session_scope(url) as session:
        try:
            issued = accounts.reset(db_session=session, user_name=user_name)
        except accounts.AccountError as e:
            console.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None
        print(json.dumps(_account_json(issued.account, issued.password)))


# --- client -----------------------------------------------------------------------------------------------------


@client_app.command("send")
def client_send(
    file: Annotated[Path, typer.Argument(help="a JSON payload, or a .jsonl file of payloads (or generator records)")],
    ipc: Annotated[str, typer.Option("--ipc", help="WLHY_YD1001 | WLHY_ZJ1001 | WLHY_CL1001 | WLHY_JSY1001 | WLHY_WZ1001")],
    url: Annotated[str, typer.Option(help="the exchange's base URL")] = "http://127.0.0.1:8000",
    user: Annotated[str, typer.Option(envvar="WLHY_CLIENT_USER", help="access account")] = "",
    password: Annotated[str, typer.Option(envvar="WLHY_CLIENT_PASSWORD", help="its password")] = "",
    public_key: Annotated[str, typer.Option(envvar="WLHY_CLIENT_PUBLIC_KEY", help="province public key hex")] = "",
) -> None:
    """Seal and send payloads as a platform would; prints one JSON answer per payload."""
    from etl.exchange.client import ExchangeClient, ExchangeClientError

    if not (user and password and public_key):
        console.print("[red]--user, --password and --public-key (or WLHY_CLIENT_*) are required[/]")
        raise typer.Exit(2)
    text = file.read_text(encoding="utf-8")
    docs = [json.loads(line) for line in text.splitlines() if line.strip()] if file.suffix == ".jsonl" else [json.loads(text)]
    worst = 0
    with ExchangeClient(url, user, password, public_key) as client:
        for doc in docs:
            payload = doc["payload"] if isinstance(doc, dict) and "payload" in doc and "operator" in doc else doc
            try:
                reply = client.send(ipc, payload)
            except ExchangeClientError as e:
                console.print(f"[red]{e}[/]")
                raise typer.Exit(3) from None
            print(json.dumps(reply, ensure_ascii=False))
            worst = max(worst, 0 if reply.get("code") == 1001 else 1)
    raise typer.Exit(worst)


# --- simulators -------------------------------------------------------------------------------------------------


@app.command()
def simulators(
    data_dir: Annotated[Optional[Path], typer.Option("--dir", help="generator output to seed them (default var/demo)")] = None,
) -> None:
    """Run the external systems' simulators: Ministry 8100, 运政 8101, national platform 8102, tax 8103, insurance 8104."""
    import threading

    sims = _start_simulators(data_dir or get_settings().demo_dir)
    console.print("; ".join(f"{k} {v}" for k, v in sims["urls"].items()) + " — Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for h in sims["handles"]:
            h.stop()


def _ministry_keypair() -> tuple[str, str]:
    """The Ministry simulator's SM2 key pair, kept in var/ so the forwarder and the simulator agree across runs."""
    from etl.exchange import crypto

    path = get_settings().var_dir / "ministry-sim.json"
    if not path.exists():
        private, public = crypto.generate_keypair()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"private": private, "public": public, "password": secrets.token_urlsafe(12)}))
        path.chmod(0o600)
    d = json.loads(path.read_text())
    return d["private"], d["public"]


def _ministry_password() -> str:
    _ministry_keypair()
    return json.loads((get_settings().var_dir / "ministry-sim.json").read_text())["password"]


if __name__ == "__main__":
    app()
