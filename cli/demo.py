"""``wlhy demo``: generate the demo province, load it, run everything (``make demo``)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer

from cli.output import console, fail
from core.config import get_settings

app = typer.Typer(help="The demo province: generate, load, run everything.", no_args_is_help=True)


@app.command("generate")
def demo_generate(
    out: Annotated[Path | None, typer.Option(help="output directory (default var/demo)")] = None,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same files")] = 42,
    province: Annotated[str, typer.Option(help="GB/T 2260 province code")] = "340000",
    operators: Annotated[int, typer.Option(help="number of platforms")] = 20,
    vehicles: Annotated[int, typer.Option()] = 2000,
    drivers: Annotated[int, typer.Option()] = 2200,
    days: Annotated[int, typer.Option()] = 30,
    waybills: Annotated[int, typer.Option(help="waybills over the whole period")] = 20000,
    start: Annotated[dt.datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="first Beijing day (default: the days end a week ago)")] = None,
) -> None:
    """Generate a synthetic province: exchange payloads, BeiDou tracks, registry records, ground truth."""
    from simulation.demo.up import generate_province

    dated = {"start": start.date()} if start else {}
    generate_province(out or get_settings().demo_dir, seed=seed, console=console, province=province,
                      operators=operators, vehicles=vehicles, drivers=drivers, days=days, waybills=waybills, **dated)


@app.command("load")
def demo_load(
    data_dir: Annotated[Path | None, typer.Option("--dir", help="generator output (default var/demo)")] = None,
    force: Annotated[bool, typer.Option(help="load even if this data set is already loaded")] = False,
    bulk_beidou: Annotated[bool, typer.Option(
        "--bulk-beidou", help="load the whole BeiDou history, not only the waybills' windows")] = False,
) -> None:
    """Load a generated province through the intake core (idempotent)."""
    from simulation.demo.load import load
    from store.db import ensure_database, session_scope

    data_dir = data_dir or get_settings().demo_dir
    url = ensure_database()
    t0 = time.perf_counter()
    with session_scope(url) as session:
        summary = load(session, data_dir, force=force, beidou="all" if bulk_beidou else "windows")
    if summary.skipped:
        console.print("demo data set already loaded; nothing to do")
    else:
        console.print(f"loaded in {time.perf_counter() - t0:.1f} s")
        console.print_json(data={"results": summary.results, "fixes": summary.fixes, "operators": summary.operators})


@app.command("up")
def demo_up(
    serve_app: Annotated[bool, typer.Option("--serve/--no-serve", help="keep serving at the end")] = True,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 2,
    feed_workers: Annotated[int, typer.Option(help="platforms sending at once while loading")] = 4,
    bulk_beidou: Annotated[bool, typer.Option(
        "--bulk-beidou", help="load the national platform's whole BeiDou history (density by source over whole "
        "days; ~10x the fixes), not only the waybills' windows")] = False,
) -> None:
    """Everything `make demo` does: database, simulators, the app, the demo province fed through /exchange once,
    the demo users, the Ministry forwarder; then serve until Ctrl-C."""
    from simulation.demo.up import DemoError, run_demo

    try:
        run_demo(get_settings(), serve=serve_app, workers=workers, feed_workers=feed_workers, console=console,
                 beidou="all" if bulk_beidou else "windows")
    except DemoError as e:
        fail(str(e), 1)
