"""Nothing accepted is lost when the database or the server dies in the middle of a message.

A throwaway cluster of its own, with fsync on; the app in a uvicorn subprocess; four platforms sending vehicles,
waybills, corrections and 10,000-fix position messages at once, each re-sending an unanswered message with the
same envelope until it is answered, as platforms do; a fifth sends position messages once and never re-sends.
PostgreSQL is killed (SIGKILL of the postmaster and its backends) twice while a message is being processed (one of
the fifth platform's the second time), and restarted; then the server is killed while a message is being processed,
and restarted.  The outbox worker forwards to the Ministry simulator all along.

Afterwards every message answered 1001 or 3001 is stored once with all its rows, the re-sends of interrupted messages
were processed (not answered 3001), the sweep processes the interrupted message nobody re-sent and leaves no message
without a result code, and the Ministry has each accepted document once, each document's versions in order.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings
from etl.exchange import accounts, crypto, keys
from etl.exchange.client import ExchangeClient
from etl.forwarder import MinistryClient
from etl.forwarder import worker as forwarder
from etl.intake import recovery
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from simulation.servers.runner import MinistryAccess, serve
from store.cluster import Cluster, ClusterError, create_migrated_database
from store.models import Message, Outbox, Vehicle, Waybill
from tests.conftest import _free_port

pytestmark = pytest.mark.slow

PLATFORMS = 4
VEHICLES, WAYBILLS, CORRECTIONS, POSITION_MESSAGES, FIXES = 60, 10, 3, 3, 10_000
ONE_SHOT_MESSAGES = 12  # position messages of the platform that never re-sends
RETRY_CODES = (9001, 3003)  # "failed on our side, retry": a platform sends the same envelope again
DEADLINE_S = 100  # the platforms give up after this long (the test fails then)
MINISTRY_USER, MINISTRY_PASSWORD = "anhui-340000", "ministry-pass"


# --- the cluster, the server ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """A cluster of its own with the durable settings (fsync on), so killing it harms no other test."""
    root = Path(tempfile.mkdtemp(prefix="wlhy-crash-pg-"))
    c = Cluster(data_dir=root / "data", port=_free_port(), fast=False)
    c.start()
    try:
        yield c
    finally:
        try:
            c.stop()
        except ClusterError:
            pass
        shutil.rmtree(root, ignore_errors=True)


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields_ = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields_[1]) == pid:
                out.append(int(d))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def kill_postgres(c: Cluster) -> None:
    """SIGKILL the postmaster and its backends: the database is gone mid-transaction, as in a power cut."""
    pid = int((c.data_dir / "postmaster.pid").read_text().split()[0])
    backends = _children(pid)
    os.kill(pid, signal.SIGKILL)
    for b in backends:
        try:
            os.kill(b, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in [pid, *backends]) and time.monotonic() < deadline:
        time.sleep(0.02)


def restart_postgres(c: Cluster) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            c.start()  # crash recovery replays the WAL
            return
        except ClusterError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


class App:
    """``uvicorn api.main:create_app`` in a subprocess (so it can be SIGKILLed), on a fixed port."""

    def __init__(self, url: str, log: Path):
        self.url, self.log, self.port = url, log, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning"],
                env=os.environ | {"WLHY_DATABASE_URL": self.url}, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the app did not start; see {self.log}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)  # no graceful shutdown
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# --- the platforms ---------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One message a platform sends: its reference stays the same for every re-send."""

    ipc_type: str
    payload: dict[str, Any]
    key: str  # vehicle plate, waybill number: what to look for afterwards
    ref: str = field(default_factory=lambda: uuid.uuid4().hex)
    answer: dict[str, Any] | None = None
    codes: list[int | None] = field(default_factory=list)  # every answer (None: no answer) of every try


def _plan(p: int) -> list[Item]:
    docs: list[Item] = []
    for i in range(VEHICLES):
        v = samples.vehicle()
        v["vehicleNumber"] = f"皖A{p}{i:04d}"
        docs.append(Item("WLHY_CL1001", v, v["vehicleNumber"]))
    for i in range(WAYBILLS):
        wb = samples.waybill()
        wb["shippingNoteNumber"] = f"YD{p}{i:04d}{uuid.uuid4().hex[:8]}"
        docs.append(Item("WLHY_YD1001", wb, wb["shippingNoteNumber"]))
    for i in range(CORRECTIONS):  # a new version of an earlier vehicle, under a new reference
        v = samples.vehicle()
        v["vehicleNumber"], v["grossMass"] = f"皖A{p}{i:04d}", "32.00"
        docs.append(Item("WLHY_CL1001", v, v["vehicleNumber"]))
    step = len(docs) // (POSITION_MESSAGES + 1)
    for k in range(POSITION_MESSAGES, 0, -1):  # spread over the run, so kills find one being processed
        batch = samples.position_batch(FIXES, recent=True)
        batch["vehicleNumber"] = f"皖P{p}{k:04d}"
        docs.insert(k * step, Item("WLHY_WZ1001", batch, batch["vehicleNumber"]))
    return docs


def _platform(base: str, user: str, password: str, public: str, items: list[Item], stop_at: float, *,
              resend: bool = True, go: threading.Event | None = None, stop: threading.Event | None = None) -> None:
    if go is not None:
        go.wait(max(stop_at - time.monotonic(), 0))
    client = ExchangeClient(base, user, password, public, timeout=30)
    try:
        while client.token is None:
            try:
                client.login()
            except Exception:  # noqa: BLE001 - the server or the database may be down right now
                if time.monotonic() > stop_at:
                    return
                time.sleep(0.2)
        for item in items:
            if stop is not None and stop.is_set():
                return
            envelope = client.envelope(item.ipc_type, item.payload, reference=item.ref)
            body = json.dumps(envelope, ensure_ascii=False).encode()
            while item.answer is None and time.monotonic() < stop_at:
                try:
                    r = client.http.post(f"{base}/exchange/send", content=body,
                                         headers={"Content-Type": "application/json"})
                    answer = r.json()
                    code = answer["code"]
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    code = None  # no answer: the server or the database is gone
                item.codes.append(code)
                if isinstance(code, int) and code not in RETRY_CODES:
                    item.answer = answer
                elif not resend:
                    break  # this platform never sends a message twice
                else:
                    time.sleep(0.2)
            if item.answer is None and resend:
                return
    finally:
        client.close()


# --- helpers for the chaos -------------------------------------------------------------------------------------


def _being_processed(dsn: str, exclude: set[int], user_name: str | None = None, timeout_s: float = 20.0) -> int | None:
    """Wait for a position message that a transaction is processing right now (its row is locked by it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=2) as conn:
                while time.monotonic() < deadline:
                    row = conn.execute(
                        "SELECT m.id FROM message m JOIN pg_stat_activity a ON a.backend_xid = m.xmax "
                        "WHERE m.result_code IS NULL AND m.duplicate_of IS NULL AND m.ipc_type = 'WLHY_WZ1001' "
                        "AND (%(u)s::text IS NULL OR m.user_name = %(u)s) ORDER BY m.id LIMIT 1", {"u": user_name}
                    ).fetchone()
                    if row and row[0] not in exclude:
                        return row[0]
                    time.sleep(0.005)
        except psycopg.OperationalError:
            time.sleep(0.1)
    return None


def _wait(cond, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- the test --------------------------------------------------------------------------------------------------


def test_nothing_answered_is_lost_when_the_database_and_the_server_die(cluster, tmp_path):
    t0 = time.monotonic()
    url = create_migrated_database(cluster.dsn(), "wlhy_crash")
    engine = create_engine(url, pool_pre_ping=True, pool_size=8)
    factory = sessionmaker(engine, expire_on_commit=False)
    dsn = cluster.dsn("wlhy_crash")
    with Session(engine) as s:
        op = upsert_operator(s, samples.operator())
        public = keys.ensure_current(db_session=s).public_key_hex
        creds = []
        for _ in range(PLATFORMS + 1):
            issued = accounts.issue(db_session=s, operator=op, sandbox=False, one_time=False,
                                    user_name=f"acct-{uuid.uuid4().hex[:8]}")
            creds.append((issued.account.user_name, issued.password))
        s.commit()

    ministry_private, ministry_public = crypto.generate_keypair()
    sim = serve("ministry", ministry=MinistryAccess(ministry_private, accounts={MINISTRY_USER: MINISTRY_PASSWORD}),
                port=0)
    settings = Settings(ministry_url=sim.url, ministry_user_name=MINISTRY_USER, ministry_password=MINISTRY_PASSWORD,
                        ministry_public_key_hex=ministry_public, ministry_timeout_s=10.0, ministry_batch_size=10,
                        ministry_base_backoff_s=0.5, ministry_max_backoff_s=2.0, ministry_idle_sleep_s=0.2)
    ministry = MinistryClient(settings)
    stop_forwarder = threading.Event()
    fw = threading.Thread(target=forwarder.run_forever, args=(stop_forwarder, factory, ministry),
                          kwargs={"idle_sleep_s": 0.2}, daemon=True)

    app = App(url, tmp_path / "app.log")
    app.start()
    plans = [_plan(p) for p in range(PLATFORMS)]
    items = [it for plan in plans for it in plan]
    one_shot = []
    for k in range(ONE_SHOT_MESSAGES):
        batch = samples.position_batch(FIXES, recent=True)
        batch["vehicleNumber"] = f"皖Q{k:05d}"
        one_shot.append(Item("WLHY_WZ1001", batch, batch["vehicleNumber"]))
    stop_at = time.monotonic() + DEADLINE_S
    platforms = [threading.Thread(target=_platform, args=(app.base, u, pw, public, plan, stop_at), daemon=True)
                 for (u, pw), plan in zip(creds, plans, strict=False)]
    go_one_shot, stop_one_shot = threading.Event(), threading.Event()
    platforms.append(threading.Thread(target=_platform, args=(app.base, *creds[-1], public, one_shot, stop_at),
                                      kwargs={"resend": False, "go": go_one_shot, "stop": stop_one_shot}, daemon=True))
    timeline: list[str] = []

    def note(what: str) -> None:
        timeline.append(f"{time.monotonic() - t0:6.1f} s  {what}")
    try:
        fw.start()
        for t in platforms:
            t.start()

        def answered() -> int:
            return sum(1 for it in items if it.answer is not None)

        victims: list[int] = []  # messages being processed when something was killed
        orphan = None  # the victim of the platform that never re-sends: left to the sweep
        for what, after, whose in (("database", 30, None), ("database", 100, creds[-1][0]), ("server", 170, None)):
            _wait(lambda a=after: answered() >= a, 60)
            if whose is not None:
                go_one_shot.set()
            victim = _being_processed(dsn, set(victims), whose)
            if whose is not None:
                orphan = victim
                stop_one_shot.set()  # it sends nothing more (its message in flight is the one killed)
            note(f"{answered()} answered; killing the {what} while message {victim} is processed")
            if what == "database":
                kill_postgres(cluster)
                time.sleep(1.0)  # the platforms' sends fail meanwhile
                restart_postgres(cluster)
            else:
                app.kill()
                app.start()
            note(f"{what} back")
            if victim is not None:
                victims.append(victim)
        for t in platforms:
            t.join(timeout=max(stop_at - time.monotonic(), 1))
        t_load = time.monotonic() - t0
        note("platforms done")

        unanswered = [(it.ipc_type, it.key, it.codes[-5:]) for it in items if it.answer is None]
        assert not unanswered, f"{len(unanswered)} messages never answered: {unanswered[:5]}\n" + "\n".join(timeline)

        # The sweep finishes what a kill left open and nobody re-sent (here: without waiting out the grace).
        swept = recovery.recover(factory, older_than=dt.timedelta(0))
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(Message).where(Message.result_code.is_(None))) == 0

        def drained() -> bool:
            with Session(engine) as s:
                return not s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status.in_(forwarder.DUE)))

        assert _wait(drained, 60), "the outbox was not drained"
    finally:
        stop_forwarder.set()
        fw.join(timeout=20)
        app.stop()
        ministry.close()
        sim.stop()

    answers = Counter(it.answer["code"] for it in items)
    assert set(answers) <= {1001, 3001}, answers
    sent_once = [it for it in one_shot if it.codes]
    assert {it.answer["code"] for it in sent_once if it.answer} <= {1001}
    for it in items:
        if it.answer["code"] == 3001:  # the first arrival was processed and its answer lost: it says so
            assert "1001" in it.answer["msg"], it.answer

    with Session(engine) as s:
        # Every message once: one message of record per reference, accepted.
        records = dict(s.execute(select(Message.message_reference_number, Message.id).where(
            Message.duplicate_of.is_(None), Message.result_code == 1001)).all())
        per_ref = Counter(s.scalars(select(Message.message_reference_number).where(
            Message.duplicate_of.is_(None), Message.result_code.not_in((3003, 9001)))))
        archived_once = {it.ref for it in sent_once if it.ref in per_ref}  # archived: answered or not, now stored
        assert {it.ref for it in sent_once if it.answer} <= archived_once
        assert set(records) == {it.ref for it in items} | archived_once and set(per_ref.values()) == {1}
        accepted = [it for it in items + sent_once if it.ref in records]
        # All its rows: the documents, every fix, one outbox row.
        outbox_per_message = Counter(s.scalars(select(Outbox.message_id)))
        assert outbox_per_message == Counter({records[it.ref]: 1 for it in accepted})
        fixes = dict(s.execute(text("SELECT message_id, count(*) FROM position GROUP BY message_id")).all())
        assert fixes == {records[it.ref]: FIXES for it in accepted if it.ipc_type == "WLHY_WZ1001"}
        plates = Counter(it.key for it in items if it.ipc_type == "WLHY_CL1001")
        stored = dict(s.execute(select(Vehicle.vehicle_number, Vehicle.version)).all())
        assert stored == dict(plates)  # one row per plate; a correction is version 2
        assert set(s.scalars(select(Waybill.shipping_note_number))) == {
            it.key for it in items if it.ipc_type == "WLHY_YD1001"}
        versions = Counter(s.scalars(text("SELECT message_id FROM document_version")))
        assert versions == Counter({records[it.ref]: 1 for it in items if it.ipc_type != "WLHY_WZ1001"})
        # The kills hit messages being processed, and re-sends of those were processed, not answered 3001.
        resumed = set(s.scalars(select(Message.duplicate_of).where(
            Message.duplicate_of.in_(victims or [0]), Message.result_msg.like("%processed now%"))))
        orphan_row = s.get(Message, orphan) if orphan is not None else None
        victim_rows = [(m.id, m.result_code, m.result_msg, m.duplicate_of) for m in s.scalars(select(Message).where(
            (Message.id.in_(victims or [0])) | Message.duplicate_of.in_(victims or [0])).order_by(Message.id))]
        outbox = s.execute(select(Outbox.ministry_reference_number, Outbox.status, Outbox.document_kind,
                                  Outbox.document_id, Outbox.id).order_by(Outbox.id)).all()
    assert victims and resumed, f"no re-send processed a killed message: {victim_rows}\n" + "\n".join(timeline)
    # The interrupted message nobody re-sent was processed by the sweep, with all its fixes (checked above).
    assert orphan_row is not None and orphan_row.result_code == 1001 and swept.processed >= 1, (
        orphan, swept, "\n".join(timeline))

    # The Ministry has each accepted document once, and each document's versions in order.
    assert {r.status for r in outbox} == {"acked"}
    received = sim.state.received
    order = {item["ref"]: n for items_ in received.values() for n, item in enumerate(items_)}
    refs = [r.ministry_reference_number for r in outbox]
    assert sum(len(v) for v in received.values()) == len(order) == len(refs) and set(order) == set(refs)
    by_document: dict[tuple[str, int], list[str]] = {}
    for r in outbox:
        if r.document_id is not None:
            by_document.setdefault((r.document_kind, r.document_id), []).append(r.ministry_reference_number)
    for refs_ in by_document.values():
        assert [order[x] for x in refs_] == sorted(order[x] for x in refs_)
    assert sum(len(v) > 1 for v in by_document.values()) == PLATFORMS * CORRECTIONS
    print(f"\n{len(items)} messages, {sum(len(it.codes) for it in items)} sends, answers {dict(answers)}; "
          f"one-shot: {len(sent_once)} sent, {sum(1 for it in sent_once if it.answer)} answered; "
          f"victims {victims} (resumed by a re-send: {sorted(resumed)}); sweep {swept}; "
          f"Ministry repeats {sim.state.repeats}; load {t_load:.1f} s, total {time.monotonic() - t0:.1f} s")
    print("\n".join(timeline))
