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
import json
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
from simulation.demo.load import ExchangeTarget, LogProgress, load
from simulation.demo.rollup import demo_days, needs_rollup, roll_up
from simulation.demo.simulators import start_simulators
from simulation.demo.users import ensure_demo_users
from simulation.generator import generate
from simulation.generator.config import GeneratorConfig
from store.db import ensure_database, get_engine, session_scope
from supervision.jobs import run_worker
from trajectories.jobs import GRACE, enqueue_due_verifications

__all__ = ["COUNTED_TABLES", "DemoError", "child_environment", "generate_province", "pgpass_file",
           "position_max_age_days", "run_demo", "verify_backlog"]

#: Tables whose row counts the demo prints once the province is in.
COUNTED_TABLES = ("operator", "account", "vehicle", "driver", "waybill", "fund_flow", "position", "message",
                  "outbox", "anomaly", "app_user")


class DemoError(RuntimeError):
    """The demo cannot go on (the app did not start, a port is taken); the message says why."""


def run_demo(settings: Settings, *, serve: bool = True, workers: int = 2, feed_workers: int = 4,
             console: Console | None = None, background: bool = True, beidou: str = "windows") -> None:
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
    beidou : str
        What of the national platform's BeiDou history the load copies (:data:`simulation.demo.load.BEIDOU_MODES`):
        the waybills' verification windows (default), ``"all"`` (``--bulk-beidou``), ``"none"``.

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
        # The demo province is a replay of past days: the app serving it accepts fixes back to the data set's first
        # day (production keeps the 30-day window of WLHY_POSITION_MAX_AGE_DAYS unless the operator sets it).
        env={"WLHY_POSITION_MAX_AGE_DAYS": str(position_max_age_days(data_dir))}
        | child_environment(url, settings.var_dir),
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
            summary = load(session, data_dir, exchange=ExchangeTarget(base, workers=feed_workers), beidou=beidou)
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


def position_max_age_days(data_dir: Path, today: dt.date | None = None) -> int:
    """How far back the demo's app accepts fixes: from the data set's first day (its manifest) to today, plus two
    days (a vehicle's BeiDou may start the day before its first trip), at least the production 30.

    Not "any age": the app makes a ``position`` day partition ahead for every day it accepts
    (``etl.intake.partitions.ensure_ahead``): ten years of them (3,655 partitions, ~11,000 relations with their
    indexes) delayed a first start by a minute or more and overflowed PostgreSQL's lock table on a count over
    ``position`` ("out of shared memory").
    """
    today = today or beijing.today()
    try:
        start = dt.date.fromisoformat(json.loads((data_dir / "manifest.json").read_text())["config"]["start"])
    except (OSError, KeyError, TypeError, ValueError):
        return 3650  # an unknown data set: accept everything, as before
    return max(30, (today - start).days + 2)


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


def _wait_healthy(base: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
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
    """While the app serves: a fresh data set's verification back-fill (:func:`verify_backlog`), its statistics
    and ranking roll-up, then the job queue (every completed, unverified demo waybill queued for verification, BeiDou
    from the national platform simulator; the alarms' first tick queued). The back-fill goes first so that the
    roll-up counts verified tonne-km (it clears the days' statistics marks the verdicts left); the roll-up before the
    worker so that it and the worker's statistics job never re-derive the same day at once."""
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    if queue and not stop.is_set():
        threading.Thread(target=_report_verification, args=(factory, stop), name="demo-verify-progress",
                         daemon=True).start()
        verify_backlog(url, factory, console)
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


#: A fresh data set with at least this many completed, unverified waybills is verified as a back-fill first.
BACKFILL_MIN_WAYBILLS = 500


def verify_backlog(url: str, factory: sessionmaker, console: Console, *,
                   min_waybills: int = BACKFILL_MIN_WAYBILLS, processes: bool = True) -> int:
    """Verify a freshly loaded data set's completed waybills as ``wlhy verify`` does, on a local Dask cluster (one
    process per core), before the queue worker starts; returns how many waybills were waiting.

    The worker alone verifies its back-log in one process (batches on one thread): on two cores the back-fill is
    several times faster, so a first ``make demo`` has its verdicts in minutes. Fewer than ``min_waybills`` (a
    restart, a tiny province) are left to the worker. A failed back-fill is reported and left to the worker too.
    """
    from supervision.configuration import trajectory_thresholds_now
    from trajectories.backfill import verify_range

    with factory() as s:
        total, done = s.execute(_VERIFIED_SQL, {"grace": GRACE}).one()
        days = demo_days(s)
        thresholds = trajectory_thresholds_now(s)
    waiting = total - done
    if waiting < min_waybills or days is None:
        return waiting
    console.print(f"verifying the data set's {waiting:,} completed waybills on a local Dask cluster "
                  f"({days[0]} … {days[1]}, as `wlhy verify` does)")
    t0 = time.perf_counter()
    try:
        verify_range(url, days[0], days[1], progress=False, thresholds=thresholds, processes=processes)
    except Exception as e:  # the worker's batches verify whatever is left
        console.print(f"[red]back-fill verification failed: {e!r}; the worker verifies the rest[/]")
        return waiting
    with factory() as s:
        after = s.execute(_VERIFIED_SQL, {"grace": GRACE}).one()[1]
    elapsed = time.perf_counter() - t0
    console.print(f"back-fill verification: {after - done:,} waybills in {elapsed:.0f} s "
                  f"({(after - done) / max(elapsed, 1e-9):.0f} waybills/s, cluster start-up included)")
    return waiting


# Completed production waybills (receipt + the verifier's grace passed) and how many have a current verdict.
_VERIFIED_SQL = text("""
    SELECT count(*), count(*) FILTER (WHERE EXISTS (
        SELECT 1 FROM verification v WHERE v.waybill_id = w.id AND v.current))
    FROM waybill w WHERE NOT w.is_sandbox AND w.receipt_at <= now() - :grace""")


def _report_verification(factory: sessionmaker, stop: threading.Event, every_s: float = 15.0) -> None:
    """Log the background verification's progress (completed waybills with a verdict, rate, what is left, an
    estimate) every ``every_s`` until every completed waybill has one: plain lines, so a log that is not a terminal
    shows it too (``make demo | tee``)."""
    with factory() as s:
        total, before = s.execute(_VERIFIED_SQL, {"grace": GRACE}).one()
    if before >= total:
        return
    with LogProgress(every_s=0) as bar:  # a line per check
        task = bar.add_task("route verification (completed waybills with a verdict)", total=total - before)
        while not stop.wait(every_s):
            with factory() as s:
                total, done = s.execute(_VERIFIED_SQL, {"grace": GRACE}).one()
            bar.update(task, completed=done - before, total=total - before)
            if done >= total:
                return


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
