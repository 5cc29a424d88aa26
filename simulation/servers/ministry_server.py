"""Run the Ministry simulator with uvicorn in a background thread on 127.0.0.1 (tests, demo)."""

from __future__ import annotations

import threading
import time

import uvicorn

from simulation.servers.ministry import create_app

__all__ = ["DEFAULT_PORT", "SimulatorServer", "start_simulator"]

DEFAULT_PORT = 8100


class SimulatorServer:
    """A running simulator: ``url``, ``state`` (the in-memory receipts and faults) and :meth:`stop`.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, private_key_hex: str, *, accounts: dict[str, str], host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, token_ttl_s: float = 7200.0) -> None:
        self.app = create_app(private_key_hex, accounts=accounts, token_ttl_s=token_ttl_s)
        self.state = self.app.state.ministry
        self.host, self.port = host, port
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port, log_level="warning"))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8100``."""
        return f"http://{self.host}:{self.port}"

    def start(self, *, timeout_s: float = 20.0) -> SimulatorServer:
        """Start serving in a daemon thread; return once it accepts connections.

        Raises
        ------
        RuntimeError
            If the server has not started within `timeout_s` (e.g. the port is taken).
        """
        self._thread = threading.Thread(target=self._server.run, name="ministry-sim", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"ministry simulator did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(private_key_hex: str, *, accounts: dict[str, str], host: str = "127.0.0.1",
                    port: int = DEFAULT_PORT) -> SimulatorServer:
    """Start a simulator in the background and return it (call ``.stop()`` when done)."""
    return SimulatorServer(private_key_hex, accounts=accounts, host=host, port=port).start()
