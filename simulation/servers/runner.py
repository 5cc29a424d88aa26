"""Run the third-party simulators (运政, national platform, tax, insurance) as local uvicorn servers.

``serve_all(data_dir)`` starts the four on ports 8101-8104 in background threads and returns handles
that stop them; ``python -m simulation.servers.runner DATA_DIR`` runs them in the foreground. The
Ministry simulator (port 8100) lives elsewhere.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import uvicorn
from fastapi import FastAPI

from simulation.servers import insurance as sim_insurance
from simulation.servers import national as sim_national
from simulation.servers import tax as sim_tax
from simulation.servers import yunzheng as sim_yunzheng

__all__ = [
    "DEFAULT_PORTS",
    "KINDS",
    "SimulatorHandle",
    "SimulatorStartError",
    "create_app",
    "serve",
    "serve_all",
]

SimulatorKind = Literal["yunzheng", "national", "tax", "insurance"]
#: The simulated systems, in start order.
KINDS: tuple[str, ...] = ("yunzheng", "national", "tax", "insurance")
#: Default port of each simulator (matches the client defaults in ``etl.adapters.config``).
DEFAULT_PORTS = {"yunzheng": 8101, "national": 8102, "tax": 8103, "insurance": 8104}

_FACTORIES = {
    "yunzheng": sim_yunzheng.create_app,
    "national": sim_national.create_app,
    "tax": sim_tax.create_app,
    "insurance": sim_insurance.create_app,
}


class SimulatorStartError(RuntimeError):
    """A simulator's server did not come up (port taken, bad seed data, ...)."""


@dataclass
class SimulatorHandle:
    """A running simulator: where it listens and how to stop it."""

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

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_app(kind: SimulatorKind, data_dir: Path | None = None) -> FastAPI:
    """Build the FastAPI app of one simulator, seeded from the generator output in `data_dir`.

    Parameters
    ----------
    kind : {"yunzheng", "national", "tax", "insurance"}
    data_dir : Path, optional
        The generator's output directory (``registry/*.jsonl``, ``beidou.parquet``); None starts empty.
    """
    if kind not in _FACTORIES:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    return _FACTORIES[kind](data_dir)


def serve(
    kind: SimulatorKind,
    data_dir: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    start_timeout_s: float = 10.0,
) -> SimulatorHandle:
    """Start one simulator in a background thread and wait until it accepts connections.

    ``port=0`` lets the OS pick a free port (read it from the handle); None means ``DEFAULT_PORTS[kind]``.
    """
    app = create_app(kind, data_dir)
    port = DEFAULT_PORTS[kind] if port is None else port
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
    )
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


def serve_all(
    data_dir: Path | None,
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    background: bool = True,
) -> dict[str, SimulatorHandle]:
    """Start the simulators named in `ports` (default: all four on 8101-8104).

    Parameters
    ----------
    data_dir : Path or None
        Generator output directory to seed from.
    host : str
    ports : dict of kind -> port, optional
    background : bool
        True returns at once with running handles; False blocks until Ctrl-C, then stops them.

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
                handles[kind] = serve(kind, data_dir, host=host, port=ports[kind])
    except BaseException:
        _stop_all(handles)
        raise
    if background:
        return handles
    try:
        while all(h.thread.is_alive() for h in handles.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        _stop_all(handles)
    return handles


def _run(server: uvicorn.Server) -> None:
    # uvicorn calls sys.exit() when it cannot bind; here that just ends the thread, and `serve` reports it.
    try:
        server.run()
    except SystemExit:
        pass


def _stop_all(handles: dict[str, SimulatorHandle]) -> None:
    for h in handles.values():
        h.server.should_exit = True
    for h in handles.values():
        h.thread.join(5.0)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m simulation.servers.runner [DATA_DIR] [--host H]``."""
    parser = argparse.ArgumentParser(description="Run the 运政 / national / tax / insurance simulators.")
    parser.add_argument("data_dir", nargs="?", type=Path, help="generator output directory")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    print(
        "simulators:", ", ".join(f"{k} http://{args.host}:{p}" for k, p in DEFAULT_PORTS.items()), flush=True
    )
    serve_all(args.data_dir, host=args.host, background=False)


if __name__ == "__main__":
    main()
