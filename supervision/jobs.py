"""Everything the job-queue worker runs, composed in one place: ``wlhy worker`` and ``wlhy demo up`` both call
:func:`run_worker`, so a new job kind is added here once and neither forgets it.

Verification's own kinds (``verify_waybill``, ``verify_batch``) and their two lanes stay with
:func:`trajectories.jobs.run_verifier`; :func:`all_handlers` is every other kind, which it joins as its
``extra_handlers``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import sessionmaker

from store.jobs import Handler

if TYPE_CHECKING:
    from etl.adapters.national import NationalPlatformClient
    from supervision.rules.registry import Registries

__all__ = ["all_handlers", "run_worker"]


def all_handlers(session_factory: sessionmaker, *, registries: Registries | None = None) -> dict[str, Handler]:
    """The handlers of every job kind beside verification's: document rules, the alarms' tick (its first tick is
    queued now, later ones queue themselves), the ranking and the statistics roll-up (both queued by triggers)."""
    from supervision.alarms.jobs import alarms_handlers
    from supervision.indicators.jobs import ranking_handlers
    from supervision.rules.jobs import rules_handlers
    from supervision.statistics.jobs import statistics_handlers

    return {**rules_handlers(registries), **alarms_handlers(session_factory), **ranking_handlers(),
            **statistics_handlers()}


def run_worker(
    session_factory: sessionmaker,
    *,
    stop: threading.Event,
    national: NationalPlatformClient | None = None,
    scan_every_s: float = 60.0,
    lookback: dt.timedelta = dt.timedelta(days=30),
    on_queued: Callable[[int], None] | None = None,
    tick_check_every_s: float = 60.0,
) -> None:
    """Run the whole queue until ``stop``: verification as waybills complete (BeiDou from ``national``) and
    every kind of :func:`all_handlers`; a thread re-queues the alarms' tick every ``tick_check_every_s`` when its
    chain broke (a tick that failed every attempt)."""
    from supervision.alarms.jobs import keep_ticking
    from trajectories.jobs import run_verifier

    threading.Thread(target=keep_ticking, args=(session_factory,), kwargs={
        "stop": stop, "check_every_s": tick_check_every_s}, name="alarms-tick-keeper", daemon=True).start()
    from supervision.configuration import trajectory_thresholds_now

    run_verifier(session_factory, stop=stop, national=national, scan_every_s=scan_every_s, lookback=lookback,
                 on_queued=on_queued, extra_handlers=all_handlers(session_factory),
                 thresholds=trajectory_thresholds_now)
