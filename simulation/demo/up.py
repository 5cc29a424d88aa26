"""``wlhy demo up``: the whole system on one machine, from an empty ``var/`` to serving.

Database, the demo province (generated once), the five simulators, the app on uvicorn (API, docs, dashboard), the
province fed through ``/exchange`` (once) and its documents' received times replayed as the generator planned them
(simulation.demo.replay), the demo users, the Ministry forwarder; in the background the statistics
and ranking roll-up of the loaded days (once per data set), then the whole job queue (``supervision.jobs``:
verification of every demo waybill, document rules, the alarms' tick, ranking and statistics upkeep); then serve
until Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from core import beijing, keyfiles
from core.config import Settings
from etl.adapters import NationalPlatformClient
from etl.forwarder.client import MinistryClient
from etl.forwarder.worker import run_forever
from simulation.demo.load import ExchangeTarget, load
from simulation.demo.rollup import needs_rollup, roll_up
from simulation.demo.simulators import start_simulators
from simulation.demo.users import ensure_demo_users
from simulation.generator import generate
from simulation.generator.config import GeneratorConfig
from store.db import ensure_database, get_engine, session_scope
from supervision.jobs import run_worker
from trajectories.jobs import enqueue_due_verifications

__all__ = ["COUNTED_TABLES", "DemoError", "child_environment", "generate_province", "pgpass_file", "run_demo"]

#: Tables whose row counts the demo prints once the province is in.
COUNTED_TABLES = ("operator", "account", "vehicle", "driver", "waybill", "fund_flow", "position", "message",
                  "outbox", "anomaly", "app_user")


class DemoError(RuntimeError):
    """The demo cannot go on (the app did not start, a port is taken); the message says why."""


def run_demo(settings: Settings, *, serve: bool = True, workers: int = 2, feed_workers: int = 4,
             console: Console | None = None, background: bool = True) -> None:
    """Bring everything up and, with `serve`, keep serving until Ctrl-C; everything started is stopped at the end.

    Parameters
    ----------
    settings : Settings
        Host, port, directories, the admin's password, the Ministry's account (the simulator's by default).
    serve : bool
        False returns once everything has been set up (the app is stopped again).
    workers : int
        uvicorn worker processes of the app.
    feed_workers : int
        Platforms sending at once while the province is fed through ``/exchange``.
    background : bool
        False starts neither the roll-up nor the queue worker (the forwarder still runs).

    Raises
    ------
    DemoError
        If the app exits or does not answer ``/healthz``.
    """
    console = console or Console()
    url = ensure_database()
    data_dir = settings.demo_dir
    if not (data_dir / "manifest.json").exists():
        console.rule("generating the demo province")
        generate_province(data_dir, seed=settings.demo_seed, console=console)
    sims = start_simulators(settings, data_dir)
    base = f"http://{settings.host}:{settings.port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", settings.host,
         "--port", str(settings.port), "--workers", str(workers), "--log-level", "warning"],
        # The demo province is a replay of past months: the app serving it accepts fixes of any age (production
        # keeps the 30-day window of WLHY_POSITION_MAX_AGE_DAYS unless the operator sets it).
        env={"WLHY_POSITION_MAX_AGE_DAYS": "3650"} | child_environment(url, settings.var_dir),
    )
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a service manager, `kill`; a shell's background job ignores SIGINT) stops as Ctrl-C does
        signal.signal(signal.SIGTERM, _interrupt)
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
            console.print_json(data={"results": summary.results, "fixes": summary.fixes,
                                     "replayed": asdict(summary.replay) if summary.replay else None})
        with session_scope(url) as session:
            creds = ensure_demo_users(session, province_code=settings.province_code,
                                      credentials_file=settings.var_dir / "demo-credentials.json",
                                      admin_password=settings.admin_password or None)
        with session_scope(url) as session:
            rollup = needs_rollup(session)
        threading.Thread(target=_forward, args=(url, sims.settings, stop), daemon=True).start()
        settled = threading.Event()
        if background:
            threading.Thread(target=_background, args=(url, stop, console, rollup, settled, serve), name="demo-background",
                             daemon=True).start()
        _print_counts(url, console)
        table = Table(title="demo users (also in var/demo-credentials.json)")
        for col in ("username", "password", "role", "division_code"):
            table.add_column(col)
        for c in creds:
            table.add_row(c["username"], c["password"], c["role"], c.get("division_code", ""))
        console.print(table)
        console.print(f"serving on [bold]{base}[/] (/healthz, /api/v1, /exchange); API docs [bold]{base}/docs[/], "
                      f"dashboard [bold]{base}/dashboard/[/] (log in with a user above); simulators: "
                      + ", ".join(f"{k} {v}" for k, v in sims.urls.items()) + "; Ctrl-C stops")
        if serve:
            server.wait()
        elif background and rollup:
            settled.wait()  # --no-serve still leaves the statistics and ranking built
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        sims.stop()
        pgpass_file(settings.var_dir).unlink(missing_ok=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


#: Variables the app's processes do not need and must not see: the owner role's URL and the admin's password.
_PARENT_ONLY = ("WLHY_MIGRATION_DATABASE_URL", "WLHY_ADMIN_PASSWORD")


def pgpass_file(var_dir: Path) -> Path:
    """The libpq password file the demo's app processes read (mode 0600 under ``var/``)."""
    return Path(var_dir) / "pg" / "app.pgpass"


def _pgpass_field(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace(":", "\\:")  # libpq's escapes in a .pgpass line


def child_environment(url: str, var_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the uvicorn child: ``WLHY_DATABASE_URL`` without its password, which goes to a 0600
    ``PGPASSFILE`` under ``var/`` instead (libpq reads it at connect time).

    Another process of the same machine may read a process's environment (``/proc/<pid>/environ`` for the same
    user or root, ``ps e``), and children and crash reports inherit it; the file is readable by its owner only.
    """
    from sqlalchemy.engine import URL, make_url

    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k not in _PARENT_ONLY}
    parsed = make_url(url)
    if parsed.password is None:
        return env | {"WLHY_DATABASE_URL": url}
    line = ":".join(_pgpass_field(x) for x in (parsed.host or "localhost", parsed.port or 5432,
                                                parsed.database or "*", parsed.username or "*", parsed.password))
    path = pgpass_file(var_dir)
    keyfiles.write_bytes(path, (line + "\n").encode("utf-8"))
    bare = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database,
                      parsed.query)  # URL.set(password=None) would keep the password
    return env | {"WLHY_DATABASE_URL": bare.render_as_string(hide_password=False),
                  "PGPASSFILE": str(path)}


def generate_province(out: Path, *, seed: int, console: Console, **sizes: int | str) -> dict:
    """Generate a synthetic province into `out` (``GeneratorConfig`` defaults unless `sizes` say otherwise).

    Unless `sizes` name a ``start``, the days end a week ago (Beijing), so that every document was sent before today
    (the generator sends its late variants up to 5 days late) and the alarms' rolling window, the overview's trends
    and the rankings have recent data, as on a live system.
    """
    t0 = time.perf_counter()
    if "start" not in sizes:
        days = int(sizes.get("days", GeneratorConfig.model_fields["days"].default))
        sizes = sizes | {"start": beijing.today() - dt.timedelta(days=days + 7)}
    summary = generate(GeneratorConfig(seed=seed, **sizes), out, progress=True)
    console.print(f"generated in {time.perf_counter() - t0:.1f} s into {out}")
    console.print_json(data=summary)
    return summary


def _wait_healthy(base: str, server: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DemoError(f"the app exited ({server.returncode}); is port {base.rsplit(':', 1)[-1]} taken?")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise DemoError(f"the app did not answer {base}/healthz within {timeout_s:.0f} s")


def _background(url: str, stop: threading.Event, console: Console, rollup: bool, settled: threading.Event,
                queue: bool = True) -> None:
    """While the app serves: the statistics and ranking roll-up of a freshly loaded data set, then the job queue
    (every completed, unverified demo waybill queued for verification, BeiDou from the national platform
    simulator; the alarms' first tick queued). The roll-up goes first so that it and the worker's statistics job
    never re-derive the same day at once; the worker then drains what verification changes."""
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    try:
        if rollup:
            roll_up(factory, say=console.print)
    except Exception as e:  # the demo keeps serving; `wlhy stats rebuild` can redo it
        console.print(f"[red]statistics roll-up failed: {e!r}; retry with `wlhy stats rebuild --from … --to …`[/]")
    finally:
        settled.set()
    if stop.is_set() or not queue:
        return
    with factory() as s:
        queued = enqueue_due_verifications(s, lookback=dt.timedelta(days=3650))
        s.commit()
    console.print(f"verifying {queued} waybills in the background (GET /api/v1/waybills/{{id}}/trajectory); "
                  "alarms evaluated every 5 min (GET /api/v1/alarms)")
    with NationalPlatformClient.from_settings() as national:
        run_worker(factory, stop=stop, national=national, lookback=dt.timedelta(days=3650))


def _forward(url: str, settings: Settings, stop: threading.Event) -> None:
    with MinistryClient(settings) as client:
        run_forever(stop, sessionmaker(get_engine(url), expire_on_commit=False), client)


def _print_counts(url: str, console: Console) -> None:
    with create_engine(url).connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED_TABLES}
    table = Table(title="rows")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for t, n in counts.items():
        table.add_row(t, f"{n:,}")
    console.print(table)
