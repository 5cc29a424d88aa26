"""``wlhy worker``: verify waybills as they complete (a periodic scan feeds the job queue, a worker runs it)."""

from __future__ import annotations

import datetime as dt

import typer

from cli.output import console


def worker(
    scan_every_s: float = typer.Option(60.0, help="how often to look for completed waybills to verify"),
    lookback_days: int = typer.Option(30, help="how far back the scan looks for unverified completed waybills"),
) -> None:
    """Verify waybills as they complete: a periodic scan enqueues them (receipt + 2 h), a worker runs the queue."""
    import threading

    from sqlalchemy.orm import sessionmaker

    from etl.adapters import NationalPlatformClient
    from etl.intake import recovery
    from store.db import get_engine
    from supervision.jobs import run_worker

    factory = sessionmaker(get_engine(), expire_on_commit=False)
    stop = threading.Event()
    sweeper = recovery.start(factory)  # messages and outbox rows a crash left unfinished
    console.print("verifying waybills as they complete (Ctrl-C stops)")
    try:
        with NationalPlatformClient.from_settings() as national:
            # every job kind (verification, rules, alarms, ranking, statistics): composed in supervision/jobs.py
            run_worker(factory, stop=stop, national=national, scan_every_s=scan_every_s,
                       lookback=dt.timedelta(days=lookback_days),
                       on_queued=lambda n: n and console.print(f"queued {n} waybills for verification"))
    except KeyboardInterrupt:
        stop.set()
    finally:
        sweeper.stop()
