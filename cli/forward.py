"""``wlhy forward``: the Ministry outbox worker on its own (``demo up`` runs the same one in a thread)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import console, fail
from core.config import get_settings

#: Settings without which nothing can be sealed for, or delivered to, the Ministry.
_REQUIRED = ("ministry_user_name", "ministry_password", "ministry_public_key_hex")


def forward(
    once: Annotated[bool, typer.Option("--once", help="drain what is due, print the counts and exit")] = False,
) -> None:
    """Deliver the outbox to the Ministry (WLHY_MINISTRY_*) until Ctrl-C; --once drains what is due and exits.

    --once prints how many were delivered, failed (to retry) and dead-lettered; exit 1: Ministry unreachable.
    """
    import threading

    from sqlalchemy.orm import sessionmaker

    from etl.forwarder.client import MinistryClient
    from etl.forwarder.worker import drain_all, run_forever
    from store.db import ensure_database, get_engine

    settings = get_settings()
    missing = [f"WLHY_{name.upper()}" for name in _REQUIRED if not getattr(settings, name)]
    if missing:
        fail(f"set {', '.join(missing)} (`wlhy simulators` prints those of the Ministry simulator)")
    factory = sessionmaker(get_engine(ensure_database(migrate=False)), expire_on_commit=False)
    with MinistryClient(settings) as client:
        if once:
            r = drain_all(factory, client)
            console.print(f"delivered {r.acked}, failed {r.retried}, dead-lettered {r.dead}")
            if r.unavailable:
                fail(f"the Ministry at {settings.ministry_url} could not be reached; "
                     f"{r.deferred} more left for the next run", 1)
            return
        console.print(f"forwarding the outbox to {settings.ministry_url}; Ctrl-C stops")
        stop = threading.Event()
        try:
            run_forever(stop, factory, client)
        except KeyboardInterrupt:
            stop.set()
