"""``wlhy simulators``: the fake outside systems (Ministry, 运政, national platform, tax, insurance)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from cli.output import console
from core.config import get_settings


def simulators(
    data_dir: Annotated[Path | None, typer.Option("--dir", help="generator output to seed them (default var/demo)")] = None,
) -> None:
    """Run the external systems' simulators: Ministry 8100, 运政 8101, national platform 8102, tax 8103, insurance 8104."""
    from simulation.demo.simulators import start_simulators

    sims = start_simulators(get_settings(), data_dir)
    fw = sims.settings
    console.print("; ".join(f"{k} {v}" for k, v in sims.urls.items()) + " — Ctrl-C stops")
    console.print(f"`wlhy forward` reaches this Ministry with WLHY_MINISTRY_URL={sims.urls['ministry']} "
                  f"WLHY_MINISTRY_USER_NAME={fw.ministry_user_name} WLHY_MINISTRY_PASSWORD={fw.ministry_password} "
                  f"WLHY_MINISTRY_PUBLIC_KEY_HEX={fw.ministry_public_key_hex}", soft_wrap=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sims.stop()
