"""Load a generated province (``wlhy demo generate`` output) into the database through the intake core.

Documents go through :func:`etl.intake.pipeline.receive` exactly as platform messages would (archived,
validated, upserted, queued for the Ministry). The national platform's BeiDou tracks, which no platform sends,
are copied as positions with source ``beidou`` only inside the waybills' verification windows by default
(``beidou="windows"``): exactly the fixes verification reads, a fraction of the continuous history, so the
verdicts are those of a full load. ``beidou="all"`` (``--bulk-beidou``) copies the whole history, for the density
by source over whole days; ``beidou="none"`` leaves every track to the worker's fetch from the national platform.
Loading is idempotent: a data set whose manifest digest is already recorded in ``system_meta`` is skipped.
"""

from __future__ import annotations

import hashlib
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import security
from etl.exchange import accounts as exchange_accounts
from etl.exchange import keys
from etl.intake.documents import upsert_operator
from etl.intake.pipeline import receive
from etl.schemas import IPC_TYPES
from simulation.demo.feed import feed_documents
from simulation.demo.files import DOCUMENT_FILES, read_jsonl
from simulation.demo.replay import ReplayResult, replay_received_times
from simulation.servers.national import vehicle_rows
from store.models import Account, Operator, SystemMeta
from store.positions import NATIONAL_PLATFORM, SOURCE_BEIDOU, load_positions
from trajectories.fixes import window

__all__ = ["BEIDOU_MODES", "DEMO_META_KEY", "DOCUMENT_FILES", "ExchangeTarget", "LoadSummary", "beidou_windows",
           "load", "manifest_digest", "read_jsonl"]

DEMO_META_KEY = "demo_dataset"
#: What of ``beidou.parquet`` the load copies: the waybills' verification windows, everything, nothing.
BEIDOU_MODES = ("windows", "all", "none")


@dataclass
class LoadSummary:
    """What a load did: messages per result code, new fixes per source, whether it was skipped, and the documents
    whose received time was replayed (:mod:`simulation.demo.replay`)."""

    skipped: bool = False
    operators: int = 0
    results: dict[str, dict[int, int]] = field(default_factory=dict)
    fixes: dict[str, int] = field(default_factory=dict)
    replay: ReplayResult | None = None


def manifest_digest(data_dir: Path) -> str:
    """Digest of the generator's manifest: identifies a data set."""
    return hashlib.sha256((data_dir / "manifest.json").read_bytes()).hexdigest()


@dataclass(frozen=True)
class ExchangeTarget:
    """Feed documents over HTTP to this running exchange (the real path) instead of calling the core."""

    base_url: str
    workers: int = 4


def load(session: Session, data_dir: Path, *, progress: bool = True, force: bool = False,
         exchange: ExchangeTarget | None = None, beidou_chunk: int = 200_000, beidou: str = "windows") -> LoadSummary:
    """Load the data set in ``data_dir``; skipped when the same data set is already loaded (unless ``force``).

    With ``exchange`` the documents go through the reference client to ``/exchange/send``; without, straight
    into the intake core (same archive, validation and storage, no HTTP or crypto). Either way the documents are
    then recorded as received when the generator planned to send them (:func:`replay_received_times`).
    ``beidou`` is one of :data:`BEIDOU_MODES` (see the module's docstring).
    """
    if beidou not in BEIDOU_MODES:
        raise ValueError(f"beidou must be one of {BEIDOU_MODES}, got {beidou!r}")
    digest = manifest_digest(data_dir)
    done = session.get(SystemMeta, DEMO_META_KEY)
    if done is not None and done.value.get("manifest_sha256") == digest and not force:
        # a data set loaded before the replay step existed is replayed now (once; a no-op afterwards)
        replay = replay_received_times(session, data_dir, digest)
        session.commit()
        return LoadSummary(skipped=True, replay=replay)
    summary = LoadSummary()
    operators = _load_operators(session, data_dir)
    summary.operators = len(operators)
    credentials = _fresh_passwords(session, operators) if exchange else {}
    public_key = keys.ensure_current(db_session=session).public_key_hex
    session.commit()
    accounts = dict(session.execute(select(Account.operator_id, Account.user_name)).all())
    session.commit()  # hold no snapshot open during a long feed
    with _progress(progress) as bar:
        if exchange:
            tasks: dict[str, Any] = {}

            def report(ipc_type: str, n: int, total: int) -> None:
                if bar is None:
                    return
                if ipc_type not in tasks:
                    tasks[ipc_type] = bar.add_task(f"{IPC_TYPES[ipc_type].ministry_document_name} via /exchange",
                                                   total=total)
                bar.update(tasks[ipc_type], completed=n)

            summary.results = feed_documents(data_dir, base_url=exchange.base_url, credentials=credentials,
                                             public_key_hex=public_key, workers=exchange.workers,
                                             on_progress=report)
        else:
            for name, ipc_type in DOCUMENT_FILES:
                path = data_dir / name
                if path.exists():
                    summary.results[ipc_type] = _load_messages(session, path, ipc_type, operators, accounts, bar)
        track_file = data_dir / "beidou.parquet"
        if track_file.exists() and beidou != "none":
            # after the documents: the windows are the stored waybills' (their items' own times)
            windows = beidou_windows(session) if beidou == "windows" else None
            summary.fixes["beidou"] = _load_beidou(session, track_file, bar, beidou_chunk, windows)
    # after the feed, before the document rules run (the worker starts after the load; jobs run after this commit)
    summary.replay = replay_received_times(session, data_dir, digest)
    session.execute(
        insert(SystemMeta).values(key=DEMO_META_KEY, value={"manifest_sha256": digest, "dir": str(data_dir)})
        .on_conflict_do_update(index_elements=["key"], set_={"value": {"manifest_sha256": digest,
                                                                       "dir": str(data_dir)}})
    )
    session.commit()
    return summary


def _fresh_passwords(session: Session, operators: dict[str, Operator]) -> dict[str, tuple[str, str]]:
    """New passwords for the demo platforms' accounts (the feed logs in as them)."""
    out = {}
    for usci, op in operators.items():
        user_name = session.scalar(select(Account.user_name).where(Account.operator_id == op.id))
        # the demo's feed is the platform itself: its password is its own, not a one-time one (production account)
        issued = exchange_accounts.reset(db_session=session, user_name=user_name, one_time=False)
        out[usci] = (user_name, issued.password)
    return out


def _load_operators(session: Session, data_dir: Path) -> dict[str, Operator]:
    """Operators and their exchange accounts (production mode: the demo platforms have passed joint testing)."""
    out: dict[str, Operator] = {}
    for rec in read_jsonl(data_dir / "operators.jsonl"):
        op = upsert_operator(session, rec)
        out[op.usci] = op
        if rec.get("userName") and session.scalar(select(Account.id).where(Account.user_name == rec["userName"])) is None:
            session.add(Account(user_name=rec["userName"], operator_id=op.id, sandbox=False,
                                password_hash=security.hash_password(rec.get("passWord") or uuid.uuid4().hex),
                                must_change_password=False))
    session.flush()
    return out


def _load_messages(
    session: Session, path: Path, ipc_type: str, operators: dict[str, Operator], accounts: dict[int, str], bar
) -> dict[int, int]:
    spec = IPC_TYPES[ipc_type]
    total = sum(1 for _ in path.open("rb"))
    task = bar.add_task(f"{spec.ministry_document_name} {path.name}", total=total) if bar else None
    counts: dict[int, int] = {}
    for i, rec in enumerate(read_jsonl(path)):
        operator = operators[rec["operator"]]
        header = {
            # Deterministic reference numbers make a re-run of the same file a replay (3001), never a duplicate.
            "messageReferenceNumber": hashlib.md5(f"{path.name}:{i}".encode()).hexdigest(),
            "documentName": spec.document_names[0],
            "documentVersionNumber": "2.0",
            "senderCode": "340000",
            "enterpriseSenderCode": accounts.get(operator.id, operator.usci),
            "messageSendingDateTime": rec.get("sendAt"),
            "ipcType": ipc_type,
        }
        res = receive(session, operator=operator, header=header, payload=rec["payload"], channel="demo")
        counts[res.code] = counts.get(res.code, 0) + 1
        if bar:
            bar.advance(task)
    return counts


def beidou_windows(session: Session) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(plate, colour) -> the stored waybill items' verification windows (:func:`trajectories.fixes.window`)
    merged into disjoint [start, end] intervals, epoch µs (sorted start and end arrays)."""
    rows = session.execute(text("SELECT vehicle_number, plate_color, despatch_at, receipt_at FROM waybill_vehicle"))
    spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in rows:
        start, end = window(row)
        spans.setdefault((row.vehicle_number, row.plate_color), []).append(
            (int(start.timestamp() * 1_000_000), int(end.timestamp() * 1_000_000)))
    out = {}
    for key, items in spans.items():
        items.sort()
        merged = [list(items[0])]
        for a, b in items[1:]:
            if a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        arr = np.asarray(merged, dtype=np.int64)
        out[key] = (arr[:, 0], arr[:, 1])
    return out


def _in_windows(batch: pa.RecordBatch, windows: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Mask of the batch's fixes inside their vehicle's windows (both ends inclusive, as verification reads)."""
    t = batch.column("t").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    mask = np.zeros(len(t), dtype=bool)
    for key, rows in vehicle_rows(batch):
        spans = windows.get(key)
        if spans is None:
            continue
        starts, ends = spans
        k = np.searchsorted(ends, t[rows], side="left")  # the first window ending at or after the fix
        inside = k < len(ends)
        inside[inside] = starts[k[inside]] <= t[rows][inside]
        mask[rows] = inside
    return mask


def _load_beidou(session: Session, path: Path, bar, chunk: int,
                 windows: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] | None = None) -> int:
    """Copy the fixes of ``beidou.parquet`` (only those inside ``windows`` when given), a batch at a time."""
    pf = pq.ParquetFile(path)
    label = "北斗轨迹 beidou.parquet" + (" (waybill windows)" if windows is not None else "")
    task = bar.add_task(label, total=pf.metadata.num_rows) if bar else None
    inserted = 0
    for batch in pf.iter_batches(batch_size=chunk):
        scanned = batch.num_rows
        if windows is not None:
            batch = batch.filter(pa.array(_in_windows(batch, windows)))
        if batch.num_rows:
            inserted += _copy_beidou(session, batch)
            session.commit()
        if bar:
            bar.advance(task, scanned)
    return inserted


def _copy_beidou(session: Session, batch: pa.RecordBatch) -> int:
    # the raw connection of *this* transaction: after a commit the session may hand out another one
    conn = session.connection().connection.driver_connection
    cols = {name: batch.column(name) for name in batch.schema.names}
    lon = cols["lon"].to_numpy(zero_copy_only=False)
    lat = cols["lat"].to_numpy(zero_copy_only=False)
    t = cols["t"].cast("int64").to_numpy(zero_copy_only=False).astype("datetime64[us]")
    return load_positions(conn, {
        "t": t,
        "vehicle_number": np.asarray(cols["vehicle_number"].to_pylist(), dtype=object),
        "plate_color": np.asarray(cols["plate_color"].to_pylist(), dtype=object),
        "source": SOURCE_BEIDOU,
        "operator_id": NATIONAL_PLATFORM,  # the national platform's fixes: nobody's, stored once
        "lon": lon,
        "lat": lat,
        "speed_kmh": cols["speed_kmh"].to_numpy(zero_copy_only=False),
        "direction": cols["direction"].to_numpy(zero_copy_only=False),
        "altitude_m": cols["altitude"].to_numpy(zero_copy_only=False),
        "declared_crs": 0,
    })


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class _RateColumn(ProgressColumn):
    """Items per second (messages, fixes)."""

    def render(self, task) -> Text:
        return Text(f"{task.speed:,.0f}/s" if task.speed else "–/s")


class LogProgress:
    """The progress bar's calls (``add_task``, ``advance``, ``update``) as periodic plain lines — done/total, rate
    per second, what is left and an estimate — for output that is not a terminal (``make demo | tee``, CI), where a
    live bar shows nothing until the end."""

    def __init__(self, every_s: float = 10.0, out: Callable[[str], None] | None = None):
        self.every_s = every_s
        self.out = out or (lambda line: print(line, flush=True))
        self._tasks: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> bool:
        for tid, t in self._tasks.items():
            if t["completed"] < (t["total"] or 0):
                self._line(tid, final=True)
        return False

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        tid = len(self._tasks)
        now = time.monotonic()
        self._tasks[tid] = {"description": description, "total": total, "completed": 0, "start": now,
                            "logged": now}
        return tid

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, completed=self._tasks[task_id]["completed"] + advance)

    def update(self, task_id: int, *, completed: float | None = None, total: float | None = None, **_: Any) -> None:
        t = self._tasks[task_id]
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["completed"] = completed
        now = time.monotonic()
        finished = t["total"] is not None and t["completed"] >= t["total"]
        if finished or now - t["logged"] >= self.every_s:
            t["logged"] = now
            self._line(task_id, final=finished)

    def _line(self, task_id: int, *, final: bool) -> None:
        t = self._tasks[task_id]
        elapsed = max(time.monotonic() - t["start"], 1e-9)
        rate = t["completed"] / elapsed
        total = t["total"] or 0
        left = max(total - t["completed"], 0)
        eta = "done" if total and not left else (f"{left / rate:,.0f} s" if rate > 0 else "?")
        pct = f" ({t['completed'] / total:.0%})" if total else ""
        self.out(f"{t['description']}: {t['completed']:,.0f}/{total:,.0f}{pct}, {rate:,.0f}/s, {left:,.0f} left, "
                 f"ETA {eta}, {elapsed:,.0f} s elapsed")


def _progress(enabled: bool):
    if not enabled:
        return _NoBar()
    if not sys.stdout.isatty():
        return LogProgress()
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn())
