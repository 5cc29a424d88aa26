"""Feed a generated province to a running exchange through the reference client, as its platforms would.

Every document goes over HTTP, sealed in an SM2/SM4 envelope, to ``/exchange/send``: the demo exercises the real
path end to end.  Platforms send in parallel (one thread per operator at a time, ``workers`` at once) and each
platform in order: vehicles and drivers before the waybills naming them, then fund flows and positions.  Messages
the ground truth marks ``SEC_WEAK_ENVELOPE`` are sealed with the published fixed ephemeral key, as the weak PHP
client does.  Reference numbers are derived from (file, line), so a second feed of the same files is all replays
(3001) and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from etl.exchange import crypto
from etl.exchange.client import ExchangeClient
from simulation.demo.files import DOCUMENT_FILES, read_jsonl

__all__ = ["feed_documents", "weak_lines"]


def weak_lines(data_dir: Path) -> set[tuple[str, int]]:
    """(file, 1-based line) of the messages the ground truth says a weak client sends."""
    out = set()
    path = data_dir / "ground_truth.jsonl"
    if path.exists():
        for rec in read_jsonl(path):
            if rec.get("code") == "SEC_WEAK_ENVELOPE" and rec.get("kind") == "message":
                out.add((rec["key"]["file"], int(rec["key"]["line"])))
    return out


def feed_documents(
    data_dir: Path,
    *,
    base_url: str,
    credentials: dict[str, tuple[str, str]],
    public_key_hex: str,
    workers: int = 4,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict[int, int]]:
    """Send every document file of ``data_dir``; returns counts of result codes per ipcType.

    Parameters
    ----------
    credentials : dict
        Operator USCI → (userName, passWord) of its exchange account.
    on_progress : callable, optional
        Called as ``on_progress(ipc_type, done, total)`` from worker threads.
    """
    weak = weak_lines(data_dir)
    results: dict[str, dict[int, int]] = {}
    local = threading.local()

    def client_for(usci: str) -> ExchangeClient:
        clients = getattr(local, "clients", None)
        if clients is None:
            clients = local.clients = {}
        if usci not in clients:
            user, password = credentials[usci]
            clients[usci] = ExchangeClient(base_url, user, password, public_key_hex,
                                           weak_c1_private_hex=crypto.PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX)
        return clients[usci]

    for name, ipc_type in DOCUMENT_FILES:
        path = data_dir / name
        if not path.exists():
            continue
        # Each line is kept as its text and parsed again when sent: parsed, a file of positions holds ~4x its size
        # in memory (~0.8 GB for the full demo's app fixes), the text ~2x.
        by_operator: dict[str, list[tuple[int, str]]] = defaultdict(list)
        with path.open(encoding="utf-8") as f:
            lines = (line for line in f if line.strip())  # numbered as read_jsonl's records are
            for line_no, line in enumerate(lines, start=1):
                by_operator[json.loads(line)["operator"]].append((line_no, line))
        total = sum(len(v) for v in by_operator.values())
        counts: Counter[int] = Counter()
        done = [0]
        lock = threading.Lock()

        def send_all(usci: str, items: list[tuple[int, str]], name=name, ipc_type=ipc_type,
                     counts=counts, done=done, lock=lock, total=total) -> None:
            client = client_for(usci)
            for line_no, line in items:
                payload = json.loads(line)["payload"]
                ref = hashlib.md5(f"{name}:{line_no}".encode()).hexdigest()
                reply = client.send(ipc_type, payload, reference=ref, weak=(name, line_no) in weak)
                with lock:
                    counts[reply.get("code")] += 1
                    done[0] += 1
                    if on_progress and (done[0] % 50 == 0 or done[0] == total):
                        on_progress(ipc_type, done[0], total)

        # biggest operators first, so the pool ends together
        jobs = sorted(by_operator.items(), key=lambda kv: -len(kv[1]))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for f in [pool.submit(send_all, usci, items) for usci, items in jobs]:
                f.result()
        results[ipc_type] = dict(counts)
    return results
