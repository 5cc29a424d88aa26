"""The demo's outside world: the five simulators, and the Ministry simulator's key pair kept under ``var/``.

The key pair and the province's password at the simulated Ministry live in ``var/ministry-sim.json`` (mode 0600),
so the forwarder and the simulator agree across runs and processes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core import keyfiles
from core.config import Settings
from etl.exchange import crypto
from simulation.servers.runner import DEFAULT_PORTS, MinistryAccess, SimulatorHandle, serve_all, stop_all

__all__ = ["MINISTRY_KEY_FILE", "Simulators", "ministry_secrets", "start_simulators", "with_ministry_simulator"]

#: Under ``Settings.var_dir``.
MINISTRY_KEY_FILE = "ministry-sim.json"


@dataclass
class Simulators:
    """The running simulators and the settings whose ``ministry_*`` fields reach the simulated Ministry."""

    handles: dict[str, SimulatorHandle]
    settings: Settings

    @property
    def urls(self) -> dict[str, str]:
        """kind -> base URL."""
        return {k: h.url for k, h in self.handles.items()}

    def stop(self) -> None:
        """Stop them all."""
        stop_all(self.handles.values())


def ministry_secrets(settings: Settings) -> dict[str, str]:
    """``{"private", "public", "password"}`` of the Ministry simulator, made on first use."""

    def make() -> dict[str, str]:
        private, public = crypto.generate_keypair()
        return {"private": private, "public": public, "password": secrets.token_urlsafe(12)}

    return keyfiles.read_or_create(settings.var_dir / MINISTRY_KEY_FILE, make)


def with_ministry_simulator(settings: Settings) -> Settings:
    """`settings` with the simulated Ministry's account and public key where ``WLHY_MINISTRY_*`` leave them empty."""
    sim = ministry_secrets(settings)
    return settings.model_copy(update={
        "ministry_user_name": settings.ministry_user_name or settings.ministry_sender_code,
        "ministry_password": settings.ministry_password or sim["password"],
        "ministry_public_key_hex": settings.ministry_public_key_hex or sim["public"],
    })


def start_simulators(settings: Settings, data_dir: Path | None = None) -> Simulators:
    """Start the Ministry and the four registries, each on the port of its ``WLHY_*_URL`` (8100-8104 by default),
    so the app and the adapters reach them where the settings say (a second demo moves them all).

    The registries are seeded from `data_dir` (default ``settings.demo_dir``) when it exists.
    """
    fw = with_ministry_simulator(settings)
    access = MinistryAccess(ministry_secrets(settings)["private"],
                            accounts={fw.ministry_user_name: fw.ministry_password})
    urls = {"ministry": fw.ministry_url, "yunzheng": fw.yunzheng_url, "national": fw.national_url,
            "tax": fw.tax_url, "insurance": fw.insurance_url}
    ports = {kind: urlsplit(u).port or DEFAULT_PORTS[kind] for kind, u in urls.items()}
    data_dir = data_dir or settings.demo_dir
    handles = serve_all(data_dir if data_dir.exists() else None, ports=ports, ministry=access)
    return Simulators(handles=handles, settings=fw)
