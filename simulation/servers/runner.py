"""The one runner of the fake outside systems: each a FastAPI app on uvicorn in a background thread.

``serve(kind, ...)`` starts one and returns once it accepts connections; ``serve_all(...)`` starts all five
(Ministry 8100, 运政 8101, national platform 8102, tax 8103, insurance 8104).  The Ministry decrypts with its
own SM2 key and lets in only its accounts, so it is started with a :class:`MinistryAccess`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import uvicorn
from fastapi import FastAPI

from simulation.servers import insurance as sim_insurance
from simulation.servers import ministry as sim_ministry
from simulation.servers import national as sim_national
from simulation.servers import tax as sim_tax
from simulation.servers import yunzheng as sim_yunzheng

__all__ = [
    "DEFAULT_PORTS",
    "KINDS",
    "REGISTRY_KINDS",
    "MinistryAccess",
    "SimulatorHandle",
    "SimulatorStartError",
    "create_app",
    "serve",
    "serve_all",
    "start",
    "stop_all",
]

SimulatorKind = Literal["ministry", "yunzheng", "national", "tax", "insurance"]
#: The registries the adapters call (``etl.adapters``), seeded from the generator's output.
REGISTRY_KINDS: tuple[str, ...] = ("yunzheng", "national", "tax", "insurance")
#: Every simulated system, in start order.
KINDS: tuple[str, ...] = ("ministry", *REGISTRY_KINDS)
#: Default port of each simulator (the defaults of the matching ``WLHY_*_URL`` settings).
DEFAULT_PORTS = {"ministry": 8100, "yunzheng": 8101, "national": 8102, "tax": 8103, "insurance": 8104}

_REGISTRY_FACTORIES = {
    "yunzheng": sim_yunzheng.create_app,
    "national": sim_national.create_app,
    "tax": sim_tax.create_app,
    "insurance": sim_insurance.create_app,
}


class SimulatorStartError(RuntimeError):
    """A simulator's server did not come up (port taken, bad seed data, ...)."""


@dataclass(frozen=True)
class MinistryAccess:
    """What the Ministry simulator needs: its SM2 private key and the provinces' accounts."""

    private_key_hex: str
    accounts: dict[str, str]  # userName -> passWord
    token_ttl_s: float = 7200.0


@dataclass
class SimulatorHandle:
    """A running simulator: where it listens, what it remembers, how to stop it."""

    kind: str
    host: str
    port: int
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Base URL to give the matching client."""
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> Any:
        """The Ministry's :class:`~simulation.servers.ministry.MinistryState`; a registry app's ``app.state``."""
        return self.app.state.ministry if self.kind == "ministry" else self.app.state

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_app(kind: SimulatorKind, data_dir: Path | None = None, *,
               ministry: MinistryAccess | None = None) -> FastAPI:
    """Build the FastAPI app of one simulator.

    Parameters
    ----------
    kind : {"ministry", "yunzheng", "national", "tax", "insurance"}
    data_dir : Path, optional
        The generator's output directory (``registry/*.jsonl``, ``beidou.parquet``) seeding a registry;
        None starts it empty.  The Ministry starts empty always.
    ministry : MinistryAccess
        Required for ``"ministry"``.
    """
    if kind == "ministry":
        if ministry is None:
            raise ValueError("the Ministry simulator needs ministry=MinistryAccess(private key, accounts)")
        return sim_ministry.create_app(ministry.private_key_hex, accounts=ministry.accounts,
                                       token_ttl_s=ministry.token_ttl_s)
    if kind not in _REGISTRY_FACTORIES:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    return _REGISTRY_FACTORIES[kind](data_dir)


def start(app: FastAPI, *, kind: str, host: str = "127.0.0.1", port: int = 0,
          start_timeout_s: float = 10.0) -> SimulatorHandle:
    """Serve `app` with uvicorn in a daemon thread; return once it accepts connections.

    ``port=0`` lets the OS pick a free port (read it from the handle).

    Raises
    ------
    SimulatorStartError
        If the server exits (port in use) or is not up within `start_timeout_s`.
    """
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=_run, args=(server,), name=f"sim-{kind}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise SimulatorStartError(f"{kind} simulator did not start on {host}:{port} (port in use?)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise SimulatorStartError(f"{kind} simulator not up after {start_timeout_s} s on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return SimulatorHandle(kind=kind, host=host, port=int(bound), app=app, server=server, thread=thread)


def serve(
    kind: SimulatorKind,
    data_dir: Path | None = None,
    *,
    ministry: MinistryAccess | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    start_timeout_s: float = 10.0,
) -> SimulatorHandle:
    """Start one simulator (see :func:`create_app`); `port` None means ``DEFAULT_PORTS[kind]``, 0 a free one."""
    app = create_app(kind, data_dir, ministry=ministry)
    port = DEFAULT_PORTS[kind] if port is None else port
    return start(app, kind=kind, host=host, port=port, start_timeout_s=start_timeout_s)


def serve_all(
    data_dir: Path | None,
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    background: bool = True,
    *,
    ministry: MinistryAccess | None = None,
) -> dict[str, SimulatorHandle]:
    """Start the simulators named in `ports` (default: all five on 8100-8104).

    Parameters
    ----------
    data_dir : Path or None
        Generator output directory to seed the registries from.
    host : str
    ports : dict of kind -> port, optional
    background : bool
        True returns at once with running handles; False blocks until Ctrl-C, then stops them.
    ministry : MinistryAccess
        Required when the Ministry is among `ports`.

    Returns
    -------
    dict of kind -> SimulatorHandle
    """
    ports = dict(DEFAULT_PORTS if ports is None else ports)
    unknown = sorted(set(ports) - set(KINDS))
    if unknown:
        raise ValueError(f"ports has unknown kinds {unknown}; allowed: {list(KINDS)}")
    handles: dict[str, SimulatorHandle] = {}
    try:
        for kind in KINDS:
            if kind in ports:
                handles[kind] = serve(kind, data_dir, ministry=ministry, host=host, port=ports[kind])
    except BaseException:
        stop_all(handles.values())
        raise
    if background:
        return handles
    try:
        while all(h.thread.is_alive() for h in handles.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop_all(handles.values())
    return handles


def stop_all(handles: Iterable[SimulatorHandle]) -> None:
    """Stop several simulators at once (all asked first, then each waited for)."""
    handles = list(handles)
    for h in handles:
        h.server.should_exit = True
    for h in handles:
        h.thread.join(5.0)


def _run(server: uvicorn.Server) -> None:
    # uvicorn calls sys.exit() when it cannot bind; here that just ends the thread, and `start` reports it.
    try:
        server.run()
    except SystemExit:
        pass
