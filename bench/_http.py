"""Shared pieces of the HTTP latency benches (bench/queries.py, bench/trajectory_endpoint.py): the app in a real
uvicorn with worker processes, bench users, and closed-loop concurrent clients on httpx.AsyncClient.

Each client sends one request, waits for the whole answer, pauses ``think`` seconds (a person reading the page)
and sends the next; its latency is the time from sending to the last byte. With ``think=0`` the clients saturate
the server and latency is bounded below by Little's law (clients / throughput), whatever the queries cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parents[1]


def load_average() -> str:
    """The 1/5/15-minute load averages, for printing next to the figures (this machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


@dataclass
class Server:
    """A running app: its base URL, and the CPU its processes (uvicorn workers and, when known, the database
    server's backends) have used, so a figure can say what a request costs whatever else loads the machine."""

    base: str
    pid: int
    pg_port: int | None = None

    def cpu_s(self) -> dict[int, float]:
        """CPU seconds used so far per process (workers, database backends)."""
        import psutil

        procs = []
        with contextlib.suppress(psutil.Error):
            procs += psutil.Process(self.pid).children(recursive=True)
        if self.pg_port:
            with contextlib.suppress(psutil.Error):
                for c in psutil.net_connections("tcp"):
                    if c.status == psutil.CONN_LISTEN and c.laddr.port == self.pg_port and c.pid:
                        procs += psutil.Process(c.pid).children()
                        break
        out = {}
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
        return out

    @staticmethod
    def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
        """CPU seconds used between two snapshots; a process that exited in between is not counted (the figure
        errs low), one that started is counted whole."""
        return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())


def pg_port_of(url: str) -> int | None:
    from sqlalchemy.engine import make_url

    return make_url(url).port


@contextlib.contextmanager
def serve(url: str, *, workers: int = 2) -> Iterator[Server]:
    """The app against ``url`` in ``uvicorn --workers N`` (a child process); yields it."""
    from store.cluster import free_port

    port = free_port()
    key_dir = tempfile.mkdtemp(prefix="wlhy-bench-keys-")
    env = os.environ | {"WLHY_DATABASE_URL": url, "WLHY_MASTER_KEY_FILE": f"{key_dir}/master-key.json",
                        "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host",
                             "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                             # Clients think up to 1.5 s and routes follow one another: keep connections open
                             # longer than uvicorn's 5 s default so no request races a closing connection.
                             "--timeout-keep-alive", "120", "--no-access-log"], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer /healthz within 120 s")
            time.sleep(0.3)
        # Every worker must be up, not only the first: warm both with a few requests.
        for _ in range(4 * workers):
            httpx.get(base + "/healthz", timeout=10)
        yield Server(base, proc.pid, pg_port_of(url))
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        with contextlib.suppress(OSError):
            Path(key_dir, "master-key.json").unlink(missing_ok=True)
            Path(key_dir).rmdir()


def create_users(url: str, who: dict[str, dict]) -> dict[str, tuple[str, str]]:
    """One person per ``label -> {role, division_code, operator_id}``; returns label -> (username, password)."""
    from auth import service as auth_service

    out = {}
    engine = create_engine(url)
    with Session(engine) as s:
        for label, kw in who.items():
            name, password = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
            auth_service.create(db_session=s, username=name, password=password, **kw)
            out[label] = (name, password)
        s.commit()
    engine.dispose()
    return out


def login(base: str, username: str, password: str) -> dict[str, str]:
    """Bearer headers of a fresh login."""
    r = httpx.post(base + "/api/v1/auth/login", json={"username": username, "password": password}, timeout=60)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass(frozen=True)
class Request:
    path: str
    params: dict | None = None


@dataclass
class Result:
    """Latencies (ms) of one measured route, the status codes seen and the ``total`` of the first answer."""

    ms: list[float]
    statuses: dict  # status code (or transport error name) -> count
    total: int | None
    wall_s: float
    alone_ms: float | None = None  # p50 of the same requests sent one at a time (the service time, no queueing)
    cpu_ms: float | None = None    # CPU (app workers + database backends) per request under concurrency

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)

    @property
    def p95(self) -> float:
        ms = sorted(self.ms)
        return ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]

    @property
    def per_s(self) -> float:
        return len(self.ms) / self.wall_s if self.wall_s else 0.0


async def _run(base: str, headers: dict, requests: Sequence[Request], clients: int, per_client: int,
               think: float, seed: int) -> Result:
    ms: list[float] = []
    statuses: dict = {}
    total: list[int | None] = []
    rnd = random.Random(seed)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as client:
        # One keep-alive connection per client, opened before timing starts (a browser's is open too).
        await asyncio.gather(*(client.get("/healthz") for _ in range(clients)))

        async def one_client(i: int) -> None:
            await asyncio.sleep(rnd.random() * think)  # clients do not start in lock-step
            for k in range(per_client):
                req = requests[(i * per_client + k) % len(requests)]
                t0 = time.perf_counter()
                try:
                    r = await client.get(req.path, params=req.params)
                    await r.aread()
                except httpx.TransportError as e:  # counted, not fatal: the figure says how many failed
                    statuses[type(e).__name__] = statuses.get(type(e).__name__, 0) + 1
                    continue
                ms.append((time.perf_counter() - t0) * 1000)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if not total and r.status_code == 200 and r.headers.get("content-type", "").startswith(
                        "application/json"):
                    body = r.json()
                    total.append(body.get("total") if isinstance(body, dict) else None)
                if think:
                    await asyncio.sleep(think * (0.5 + rnd.random()))

        t = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        wall = time.perf_counter() - t
    return Result(ms=ms, statuses=statuses, total=total[0] if total else None, wall_s=wall)


def measure(server: Server, headers: dict, requests: Sequence[Request], *, clients: int, per_client: int,
            think: float, seed: int = 0, alone: int = 10) -> Result:
    """``clients`` concurrent clients each sending ``per_client`` of ``requests`` (round robin); then ``alone``
    of them one at a time, for the service time without queueing (on a loaded machine, the fairer figure)."""
    base = server.base
    c0 = server.cpu_s()
    r = asyncio.run(_run(base, headers, requests, clients, per_client, think, seed))
    # The warm-up /healthz of each connection is in the CPU too: small next to the measured requests.
    r.cpu_ms = Server.cpu_between(c0, server.cpu_s()) * 1000 / max(1, len(r.ms))
    if alone:
        serial = asyncio.run(_run(base, headers, requests, 1, alone, 0, seed))
        r.alone_ms = serial.p50 if serial.ms else None
    return r


def line(title: str, r: Result, goal_ms: float, width: int = 40) -> str:
    """One printed row: p50 / p95, requests/s, the row count behind it and whether p95 meets the goal."""
    bad = {k: v for k, v in r.statuses.items() if k != 200}
    rows = f"{r.total:>9,}" if r.total is not None else " " * 9
    mark = "ok" if r.ms and r.p95 < goal_ms else "MISS"
    alone = f"{r.alone_ms:7.1f}" if r.alone_ms is not None else " " * 7
    cpu = f"{r.cpu_ms:6.1f}" if r.cpu_ms is not None else " " * 6
    if not r.ms:
        return f"    {title:<{width}} no answer  {bad}"
    return (f"    {title:<{width}} {r.p50:7.1f} {r.p95:7.1f} {alone} {cpu}  {r.per_s:6.1f}/s  {rows}  {mark}"
            + (f"  non-200: {bad}" if bad else ""))
