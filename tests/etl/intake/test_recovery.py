"""A message archived but never finished (the server or the database died in between) is not lost.

A re-send of its reference processes it (once, however many re-sends race) and is answered with the outcome; the
recovery sweep finishes the ones nobody re-sends; outbox rows held by a vanished forwarder are released.  These run
the exchange service in-process; tests/etl/intake/test_crash_recovery.py does the same with real kills.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from etl.exchange import accounts, keys
from etl.exchange import service as exchange_service
from etl.exchange.client import ExchangeClient
from etl.exchange.service import ExchangeService
from etl.intake import pipeline, recovery
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from store.models import Anomaly, Message, Outbox, Position, Vehicle, Waybill
from tests.conftest import empty_database, make_database

DOC_NAMES = {"WLHY_YD1001": "电子运单上传", "WLHY_CL1001": "车辆基本信息上传", "WLHY_WZ1001": "位置信息上传"}
NOW = dt.timedelta(0)  # older_than for "every unfinished message, however young"


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, the open transaction is lost."""


@pytest.fixture(scope="module")
def rec_engine(pg_admin_dsn):
    eng = create_engine(make_database(pg_admin_dsn), pool_size=10)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(rec_engine):
    """A sessionmaker on an emptied database (the sweep looks at every message, so tests must not share any)."""
    empty_database(rec_engine)
    return sessionmaker(rec_engine, expire_on_commit=False)


class Platform:
    """An account on an in-process exchange service, sealing its messages as a platform client does."""

    def __init__(self, factory):
        with factory() as s:
            op = upsert_operator(s, samples.operator())
            issued = accounts.issue(db_session=s, operator=op, sandbox=False, one_time=False,
                                    user_name=f"acct-{uuid.uuid4().hex[:8]}")
            public = keys.ensure_current(db_session=s).public_key_hex
            s.commit()
            self.operator_id = op.id
        self.service = ExchangeService(factory)
        login = self.service.auth(json.dumps({"userName": issued.account.user_name,
                                              "passWord": issued.password}).encode())
        self.client = ExchangeClient("http://unused", issued.account.user_name, issued.password, public)
        self.client.token = login.body["data"]

    def envelope(self, ipc_type: str, payload: dict, ref: str | None = None) -> bytes:
        return json.dumps(self.client.envelope(ipc_type, payload, reference=ref or uuid.uuid4().hex),
                          ensure_ascii=False).encode()

    def send(self, raw: bytes) -> dict:
        return self.service.send(raw).body


@pytest.fixture
def platform(factory):
    p = Platform(factory)
    yield p
    p.client.close()


def crash_during_processing(platform, raw: bytes, monkeypatch) -> None:
    """Send `raw` with the process dying after the archive's commit, before the outcome."""
    def die(*a, **k):
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(exchange_service, "process", die)
        with pytest.raises(Crash):
            platform.send(raw)


def rows(factory, ref: str) -> list[Message]:
    with factory() as s:
        return list(s.scalars(select(Message).where(Message.message_reference_number == ref).order_by(Message.id)))


def count(factory, model, *where) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _waybill() -> dict:
    wb = samples.waybill()
    wb["shippingNoteNumber"] = "YD" + uuid.uuid4().hex[:12]
    return wb


# --- a re-send of an unfinished message ------------------------------------------------------------------------


def test_resend_of_an_interrupted_message_processes_it_and_answers_its_outcome(factory, platform, monkeypatch):
    ref, wb = uuid.uuid4().hex, _waybill()
    raw = platform.envelope("WLHY_YD1001", wb, ref)
    crash_during_processing(platform, raw, monkeypatch)
    [first] = rows(factory, ref)
    assert first.result_code is None and count(factory, Waybill) == 0  # archived, nothing else

    assert platform.send(raw) == {"code": 1001, "msg": "成功"}  # not a bare 3001
    first, resend = rows(factory, ref)
    assert first.result_code == 1001 and resend.duplicate_of == first.id and resend.result_code == 1001
    assert count(factory, Waybill, Waybill.shipping_note_number == wb["shippingNoteNumber"]) == 1
    assert count(factory, Outbox, Outbox.message_id == first.id) == 1

    again = platform.send(raw)  # finished now: 3001, with the outcome
    assert again["code"] == 3001 and "1001" in again["msg"] and "成功" in again["msg"]
    assert count(factory, Waybill) == 1 and count(factory, Outbox) == 1


def test_a_finished_message_answers_3001_with_its_original_outcome(factory, platform):
    bad = samples.vehicle()
    bad["vehiclePlateColorCode"] = "99"  # not in the code table: 3005
    raw = platform.envelope("WLHY_CL1001", bad)
    assert platform.send(raw)["code"] == 3005
    again = platform.send(raw)
    assert again["code"] == 3001 and "3005" in again["msg"]


def test_two_concurrent_resends_process_an_unfinished_message_once(factory, platform, monkeypatch):
    ref = uuid.uuid4().hex
    raw = platform.envelope("WLHY_WZ1001", samples.position_batch(500, recent=True), ref)
    crash_during_processing(platform, raw, monkeypatch)
    calls = []
    real = exchange_service.process

    def slow(*a, **k):
        calls.append(threading.get_ident())
        time.sleep(0.5)  # the other re-send arrives while this one processes
        return real(*a, **k)

    monkeypatch.setattr(exchange_service, "process", slow)
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: platform.send(raw), range(3)))
    assert len(calls) == 1
    assert sorted(a["code"] for a in answers) == [1001, 3001, 3001]
    assert all("1001" in a["msg"] for a in answers if a["code"] == 3001)
    first = rows(factory, ref)[0]
    assert first.result_code == 1001
    assert count(factory, Position, Position.message_id == first.id) == 500
    assert count(factory, Outbox) == 1


def test_resend_while_the_first_is_still_processing_waits_for_its_outcome(factory, platform, monkeypatch):
    raw = platform.envelope("WLHY_CL1001", samples.vehicle())
    real = exchange_service.process
    started = threading.Event()

    def slow(*a, **k):
        started.set()
        time.sleep(0.5)
        return real(*a, **k)

    monkeypatch.setattr(exchange_service, "process", slow)
    with ThreadPoolExecutor(1) as pool:
        original = pool.submit(platform.send, raw)
        assert started.wait(10)
        resend = platform.send(raw)
        assert original.result()["code"] == 1001
    assert resend["code"] == 3001 and "1001" in resend["msg"]
    assert count(factory, Vehicle) == 1


def test_resend_past_the_wait_answers_3003_and_processes_nothing(factory, platform, monkeypatch):
    raw = platform.envelope("WLHY_CL1001", samples.vehicle())
    crash_during_processing(platform, raw, monkeypatch)
    [first] = rows(factory, platform_ref(raw))
    monkeypatch.setattr(pipeline, "LOCK_WAIT_S", 0.2)
    with factory() as holder:  # someone else holds the first arrival (processing it)
        holder.execute(select(Message).where(Message.id == first.id).with_for_update(key_share=True))
        answer = platform.send(raw)
        holder.rollback()
    assert answer["code"] == 3003
    assert count(factory, Vehicle) == 0
    assert platform.send(raw)["code"] == 1001  # and a later re-send gets it done


def platform_ref(raw: bytes) -> str:
    return json.loads(raw)["root"]["header"]["messageReferenceNumber"]


def test_archived_envelope_unusable_then_the_resent_one_is_processed(factory, platform, monkeypatch):
    ref, wb = uuid.uuid4().hex, _waybill()
    raw = platform.envelope("WLHY_YD1001", wb, ref)
    crash_during_processing(platform, raw, monkeypatch)
    with factory() as s:  # the archive's ciphertext is damaged
        s.execute(update(Message).where(Message.message_reference_number == ref)
                  .values(encrypted_content="QUFBQUFBQUFBQUFBQUFBQQ=="))
        s.commit()
    assert platform.send(raw) == {"code": 1001, "msg": "成功"}
    first, resend = rows(factory, ref)
    assert first.result_code == 9001 and f"re-send {resend.id}" in first.result_msg
    assert resend.duplicate_of is None and resend.result_code == 1001  # the message of record now
    with factory() as s:
        assert s.scalar(select(Outbox.message_id)) == resend.id
    assert platform.send(raw)["code"] == 3001
    assert count(factory, Waybill) == 1


def test_plain_channel_resend_processes_an_unfinished_message(factory):
    with factory() as s:
        op = upsert_operator(s, samples.operator())
        s.commit()
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES["WLHY_CL1001"],
              "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "wlhy-test",
              "messageSendingDateTime": "20240316093000", "ipcType": "WLHY_CL1001"}
    payload = json.dumps(samples.vehicle(), ensure_ascii=False)
    with factory() as s:  # archived, then the process died
        pipeline.archive(s, header=header, operator=s.merge(op), raw={"body": payload})
    with factory() as s:
        assert pipeline.receive(s, operator=s.merge(op), header=header, payload=payload).code == 1001
    with factory() as s:
        again = pipeline.receive(s, operator=s.merge(op), header=header, payload=payload)
    assert again.code == 3001 and "1001" in again.msg
    assert count(factory, Vehicle) == 1


# --- the sweep -------------------------------------------------------------------------------------------------


def test_sweep_processes_unfinished_messages_past_the_grace_only(factory, platform, monkeypatch):
    ref = uuid.uuid4().hex
    crash_during_processing(platform, platform.envelope("WLHY_YD1001", _waybill(), ref), monkeypatch)
    assert not recovery.recover(factory, older_than=dt.timedelta(minutes=2))  # young: may be in flight
    assert rows(factory, ref)[0].result_code is None
    counts = recovery.recover(factory, older_than=NOW)
    assert counts.processed == 1 and counts.closed == 0
    [msg] = rows(factory, ref)
    assert msg.result_code == 1001 and msg.errors is None
    assert count(factory, Waybill) == 1 and count(factory, Outbox, Outbox.message_id == msg.id) == 1
    assert not recovery.recover(factory, older_than=NOW)  # nothing left


def test_sweep_skips_a_message_someone_is_processing(factory, platform, monkeypatch):
    ref = uuid.uuid4().hex
    crash_during_processing(platform, platform.envelope("WLHY_CL1001", samples.vehicle(), ref), monkeypatch)
    with factory() as holder:
        holder.execute(select(Message).where(Message.message_reference_number == ref).with_for_update(key_share=True))
        assert recovery.recover(factory, older_than=NOW).skipped == 1
        holder.rollback()
    assert recovery.recover(factory, older_than=NOW).processed == 1


def test_sweep_gives_the_outcome_the_rules_give_to_an_invalid_message(factory, platform, monkeypatch):
    bad = samples.vehicle()
    bad["vehiclePlateColorCode"] = "99"
    ref = uuid.uuid4().hex
    crash_during_processing(platform, platform.envelope("WLHY_CL1001", bad, ref), monkeypatch)
    assert recovery.recover(factory, older_than=NOW).processed == 1
    [msg] = rows(factory, ref)
    assert msg.result_code == 3005
    assert count(factory, Anomaly, Anomaly.code == "INTAKE_REJECTED", Anomaly.document_id == msg.id) == 1


def test_sweep_closes_what_cannot_be_processed_with_9001_and_an_anomaly(factory, platform, monkeypatch):
    ref = uuid.uuid4().hex
    crash_during_processing(platform, platform.envelope("WLHY_CL1001", samples.vehicle(), ref), monkeypatch)

    def broken(*a, **k):
        raise RuntimeError("cannot")

    monkeypatch.setattr(recovery, "complete_archived", broken)
    counts = recovery.recover(factory, older_than=NOW)
    assert counts.closed == 1 and counts.processed == 0
    [msg] = rows(factory, ref)
    assert msg.result_code == 9001 and msg.errors[-1]["rule"] == "recovery"
    assert count(factory, Anomaly, Anomaly.code == "INTAKE_REJECTED", Anomaly.document_id == msg.id) == 1


def test_a_message_whose_recovery_keeps_dying_is_closed_after_max_attempts(factory, platform, monkeypatch):
    ref = uuid.uuid4().hex
    crash_during_processing(platform, platform.envelope("WLHY_CL1001", samples.vehicle(), ref), monkeypatch)

    def die(*a, **k):
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(recovery, "complete_archived", die)
        for _ in range(recovery.MAX_ATTEMPTS):
            with pytest.raises(Crash):
                recovery.recover(factory, older_than=NOW)
    [msg] = rows(factory, ref)
    assert msg.result_code is None and len(msg.errors) == recovery.MAX_ATTEMPTS  # each attempt was recorded
    assert recovery.recover(factory, older_than=NOW).closed == 1
    [msg] = rows(factory, ref)
    assert msg.result_code == 9001 and count(factory, Vehicle) == 0


def test_sweep_closes_resend_rows_and_unauthenticated_messages(factory, platform, monkeypatch):
    ref = uuid.uuid4().hex
    raw = platform.envelope("WLHY_CL1001", samples.vehicle(), ref)
    assert platform.send(raw)["code"] == 1001
    with factory() as s:  # a re-send archived, then the process died; and two unauthenticated arrivals
        first = s.scalar(select(Message.id).where(Message.message_reference_number == ref))
        s.add(Message(user_name=rows(factory, ref)[0].user_name, message_reference_number=ref, duplicate_of=first,
                      header={"messageReferenceNumber": ref}))
        s.add(Message(header={"messageReferenceNumber": "x", "token": None}))
        s.add(Message(header={}, body="not json"))
        s.commit()
    counts = recovery.recover(factory, older_than=NOW)
    assert counts.closed == 3 and counts.processed == 0
    with factory() as s:
        codes = s.scalars(select(Message.result_code).order_by(Message.id)).all()
    assert codes == [1001, 3001, 2001, 3004]
    assert count(factory, Vehicle) == 1


def test_run_forever_sweeps_at_start_and_stops_on_the_event(factory, platform, monkeypatch):
    ref = uuid.uuid4().hex
    crash_during_processing(platform, platform.envelope("WLHY_CL1001", samples.vehicle(), ref), monkeypatch)
    sweeper = recovery.start(factory, interval_s=0.05, older_than=NOW)
    deadline = time.monotonic() + 10
    while rows(factory, ref)[0].result_code is None and time.monotonic() < deadline:
        time.sleep(0.05)
    sweeper.stop()
    assert not sweeper.thread.is_alive()
    assert rows(factory, ref)[0].result_code == 1001


# --- outbox rows held by a vanished forwarder -------------------------------------------------------------------


def test_outbox_rows_held_past_the_lease_are_released(factory, rec_engine, platform):
    assert platform.send(platform.envelope("WLHY_CL1001", samples.vehicle()))["code"] == 1001
    holder = rec_engine.connect()  # a forwarder that claimed the row and then hung
    holder.begin()
    assert holder.execute(text("SELECT id FROM outbox FOR UPDATE")).all()

    def claimable() -> int:
        with factory() as s:
            return len(s.execute(text("SELECT id FROM outbox FOR UPDATE SKIP LOCKED")).all())

    assert claimable() == 0
    assert recovery.recover(factory, older_than=NOW, outbox_lease=dt.timedelta(hours=1)).outbox_released == 0
    assert recovery.recover(factory, older_than=NOW, outbox_lease=NOW).outbox_released == 1
    with pytest.raises(OperationalError):
        holder.execute(text("SELECT 1"))
    holder.invalidate()
    holder.close()
    deadline = time.monotonic() + 10  # the ended session lets go of its locks as it exits
    while claimable() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert claimable() == 1
