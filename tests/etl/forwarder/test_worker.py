"""The outbox worker against a real PostGIS and a live Ministry simulator (127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid

import pytest
from sqlalchemy import select, update

from etl.exchange import crypto
from etl.exchange import keys as province_keys
from etl.forwarder import (
    PayloadUnavailable,
    backlog,
    backoff_s,
    build_envelope,
    claim_due,
    drain_all,
    drain_once,
    payload_for,
    run_forever,
)
from etl.schemas import samples
from simulation.servers.ministry import FaultsIn
from store.models import AuditLog, DocumentVersion, Message, Outbox, ProvinceKey
from store.models.base import utcnow

HOUR = dt.timedelta(hours=1)


def outbox_rows(factory) -> list[Outbox]:
    with factory() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def received(sim) -> dict:
    with sim.state.lock:
        return {"total": len(sim.state.by_ref), "repeats": sim.state.repeats,
                "concurrent": sim.state.concurrent_sends, "refs": dict(sim.state.by_ref),
                "order": {t: [r["ref"] for r in v] for t, v in sim.state.received.items()}}


class _Edge:
    """A jitter source pinned to one end of its range."""

    def __init__(self, end: str) -> None:
        self.end = end

    def uniform(self, a: float, b: float) -> float:
        return a if self.end == "low" else b


def test_backoff_doubles_from_base_up_to_the_cap():
    high, low = _Edge("high"), _Edge("low")
    assert [backoff_s(n, base_s=5, max_s=600, rng=high) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff_s(8, base_s=5, max_s=600, rng=high) == 600  # 5 * 2**7 = 640, capped
    assert [backoff_s(n, base_s=5, max_s=600, rng=low) for n in (1, 2, 8)] == [3.75, 7.5, 450]


def test_every_type_reaches_the_ministry_decrypted_and_valid(factory, sim, make_client, intake):
    for ipc_type, make in samples.SAMPLES.items():
        intake(ipc_type, make())
    result = drain_all(factory, make_client())
    assert (result.claimed, result.acked, result.retried, result.dead) == (5, 5, 0, 0)

    got = received(sim)
    rows = outbox_rows(factory)
    assert {r.status for r in rows} == {"acked"} and {r.ministry_code for r in rows} == {1001}
    assert all(r.acked_at is not None and r.ministry_msg == "成功" for r in rows)
    assert set(got["refs"]) == {r.ministry_reference_number for r in rows}
    by_type = {r.ipc_type: got["refs"][r.ministry_reference_number] for r in rows}
    assert by_type["WLHY_WZ1001"]["payload"] == samples.position_batch()  # the archived body, as sent
    waybill = by_type["WLHY_YD1001"]
    assert waybill["payload"] == samples.waybill()  # exactly as received, extension keys included
    assert waybill["header"]["DocumentName"] == "电子运单" and waybill["header"]["SenderCode"] == "340000"
    assert waybill["payload"]["shippingNoteNumber"] == "YD20240315000123"
    assert waybill["payload"]["vehicleInfo"][0]["driver"][0]["drivingLicense"] == samples.DRIVER_ID_NUMBER
    assert [by_type[t]["header"]["DocumentName"] for t in ("WLHY_ZJ1001", "WLHY_CL1001", "WLHY_JSY1001")] \
        == ["资金流水单", "车辆信息单", "驾驶员信息单"]


def test_documents_without_an_archived_message_go_out_in_wire_formats(factory, sim, make_client, intake):
    for ipc_type in ("WLHY_YD1001", "WLHY_ZJ1001", "WLHY_CL1001", "WLHY_JSY1001"):
        intake(ipc_type, samples.SAMPLES[ipc_type]())
    with factory() as s:  # e.g. documents loaded by the demo, not received on the exchange
        waybill_message = s.scalar(select(Outbox.message_id).where(Outbox.ipc_type == "WLHY_YD1001"))
        s.execute(update(DocumentVersion).where(DocumentVersion.message_id != waybill_message)
                  .values(message_id=None))
        s.execute(update(Outbox).where(Outbox.message_id != waybill_message).values(message_id=None))
        # the waybill's archive exists but cannot be opened (no province key holds it)
        s.execute(update(Message).where(Message.id == waybill_message)
                  .values(body=None, encrypted_code="00", encrypted_content="AA=="))
        s.commit()
        payloads = {r.ipc_type: payload_for(s, r) for r in s.scalars(select(Outbox))}
    # the stored version holds '2024-03-15 10:00:00+08:00'; the wire wants Beijing YYYYMMDDhhmmss
    assert payloads["WLHY_YD1001"]["despatchActualDateTime"] == "20240315100000"
    assert payloads["WLHY_ZJ1001"]["financiallist"][0]["dateTime"] == "20240316095500"
    assert payloads["WLHY_CL1001"]["registerDate"] == "20190612"
    assert payloads["WLHY_JSY1001"]["validPeriodTo"] == "20280101"
    assert drain_all(factory, make_client()).acked == 4 and sim.state.answers == {1001: 4}


def test_xml_serialisation_is_accepted_too(factory, sim, make_client, intake):
    for ipc_type, make in samples.SAMPLES.items():
        intake(ipc_type, make())
    assert drain_all(factory, make_client(ministry_serialisation="xml")).acked == 5
    got = received(sim)
    position = next(r for r in got["refs"].values() if r["ipcType"] == "WLHY_WZ1001")
    assert position["payload"] == samples.position_batch()


def test_correction_is_delivered_only_after_the_first_version(factory, sim, make_client, intake):
    intake("WLHY_YD1001", samples.waybill())
    corrected = samples.waybill()
    corrected["totalMonetaryAmount"] = "3650.000"
    intake("WLHY_YD1001", corrected)
    first, second = outbox_rows(factory)
    assert (first.document_id, first.document_version, second.document_version) == (second.document_id, 1, 2)
    client = make_client()

    sim.state.faults = FaultsIn(mode="error", code=3003, remaining=1)  # the first version bounces once
    now = utcnow()
    r = drain_once(factory, client, now=now)
    assert (r.claimed, r.retried) == (1, 1)
    assert drain_once(factory, client, now=now).claimed == 0  # v2 waits for v1, although v2 itself is due
    assert received(sim)["total"] == 0

    assert drain_all(factory, client, now=now + HOUR).acked == 2
    got = received(sim)
    assert got["order"]["WLHY_YD1001"] == [first.ministry_reference_number, second.ministry_reference_number]
    order = got["order"]["WLHY_YD1001"]
    amounts = [float(got["refs"][ref]["payload"]["totalMonetaryAmount"]) for ref in order]
    assert amounts == [3500.0, 3650.0]


def test_ministry_down_then_up_loses_nothing_and_duplicates_nothing(factory, sim, make_client, intake):
    for n in range(1, 7):
        intake("WLHY_WZ1001", samples.position_batch(n))
    intake("WLHY_CL1001", samples.vehicle())
    intake("WLHY_JSY1001", samples.driver())
    client = make_client()

    sim.state.faults = FaultsIn(mode="down")
    now = utcnow()
    for _ in range(3):
        r = drain_once(factory, client, now=now)
        # the first failure stops the drain: one row backs off, the rest of the batch is left untouched
        assert r.unavailable and (r.retried, r.deferred) == (1, r.claimed - 1)
    rows = outbox_rows(factory)
    assert [r.status for r in rows].count("retry") == 3 and all(r.attempts <= 1 for r in rows)
    assert "HTTP 503" in next(r.last_error for r in rows if r.status == "retry")
    assert received(sim)["total"] == 0

    sim.state.faults = FaultsIn(mode="ok")
    result = drain_all(factory, client, now=now + HOUR)
    rows = outbox_rows(factory)
    assert result.acked == 8 and {r.status for r in rows} == {"acked"}
    got = received(sim)
    assert set(got["refs"]) == {r.ministry_reference_number for r in rows}
    assert got["total"] == len(rows) == 8 and got["repeats"] == 0


def test_redelivery_after_a_crash_is_deduplicated_by_the_ministry(factory, sim, make_client, intake):
    intake("WLHY_JSY1001", samples.driver())
    client = make_client()
    s = client.settings
    with factory() as session:  # a worker sends, then dies before committing the acknowledgement
        (row,) = claim_due(session, now=utcnow(), limit=10)
        envelope = build_envelope(payload_for(session, row), ipc_type=row.ipc_type,
                                  reference_number=row.ministry_reference_number, sender_code=s.ministry_sender_code,
                                  public_key_hex=s.ministry_public_key_hex)
        ref = row.ministry_reference_number
        assert client.send(envelope).code == 1001
        session.rollback()
    assert outbox_rows(factory)[0].status == "pending"

    assert drain_all(factory, client).acked == 1
    got = received(sim)
    assert got["total"] == 1 and got["repeats"] == 1
    assert got["refs"][ref]["deliveries"] == 2


def test_error_answers_back_off_growing_then_dead_letter(factory, sim, make_client, intake):
    intake("WLHY_JSY1001", samples.driver())
    client = make_client(ministry_max_attempts=4, ministry_base_backoff_s=10, ministry_max_backoff_s=600)
    sim.state.faults = FaultsIn(mode="error", code=9001)
    now = utcnow()
    delays = []
    for attempt in range(1, 5):
        assert drain_once(factory, client, now=now).claimed == 1
        (row,) = outbox_rows(factory)
        assert row.attempts == attempt and row.ministry_code == 9001 and row.last_error.startswith("9001")
        if attempt < 4:
            assert row.status == "retry"
            delays.append((row.next_attempt_at - now).total_seconds())
            not_yet = now + dt.timedelta(seconds=delays[-1] - 0.5)
            assert drain_once(factory, client, now=not_yet).claimed == 0
            now = row.next_attempt_at
    assert row.status == "dead"
    assert 7.5 <= delays[0] <= 10 and 15 <= delays[1] <= 20 and 30 <= delays[2] <= 40  # base 10 s, doubling
    assert drain_once(factory, client, now=now + 10 * HOUR).claimed == 0  # dead rows are never sent again
    with factory() as s:
        (audit,) = s.scalars(select(AuditLog).where(AuditLog.action == "outbox_dead_letter"))
    assert audit.target == f"outbox:{row.id}"
    assert audit.detail["ministryCode"] == 9001 and audit.detail["attempts"] == 4
    assert sim.state.answers == {9001: 4} and received(sim)["total"] == 0


def test_ministry_3001_means_already_received(factory, sim, make_client, intake):
    intake("WLHY_CL1001", samples.vehicle())
    sim.state.faults = FaultsIn(mode="error", code=3001)
    assert drain_all(factory, make_client()).acked == 1
    (row,) = outbox_rows(factory)
    assert (row.status, row.ministry_code) == ("acked", 3001)


def test_expired_token_is_renewed_once_and_the_send_goes_through(factory, sim, make_client, intake):
    client = make_client()
    intake("WLHY_JSY1001", samples.driver())
    assert drain_all(factory, client).acked == 1 and client.logins == 1
    with sim.state.lock:
        sim.state.tokens.clear()  # the Ministry forgot our token (restart, expiry)
    intake("WLHY_CL1001", samples.vehicle())
    assert drain_all(factory, client).acked == 1 and client.logins == 2
    assert sim.state.answers == {1001: 2, 2001: 1}


def test_claims_skip_rows_locked_by_another_worker(factory, intake):
    for n in range(1, 5):
        intake("WLHY_WZ1001", samples.position_batch(n))
    ids = [r.id for r in outbox_rows(factory)]
    with factory() as a, factory() as b:
        held = [r.id for r in claim_due(a, now=utcnow(), limit=2)]
        other = [r.id for r in claim_due(b, now=utcnow(), limit=10)]
        assert held == ids[:2] and other == ids[2:]
        a.rollback()
        assert [r.id for r in claim_due(b, now=utcnow(), limit=10)] == ids  # b already holds 2..3; a let go


def test_two_workers_never_send_one_row_twice(factory, sim, make_client, intake):
    for n in range(1, 21):
        intake("WLHY_WZ1001", samples.position_batch(n))
    sim.state.faults = FaultsIn(mode="slow", delay_s=0.03)
    results = {}

    def work(name: str) -> None:
        results[name] = drain_all(factory, make_client(ministry_batch_size=2))

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results["a"].claimed + results["b"].claimed == 20
    assert results["a"].claimed > 0 and results["b"].claimed > 0  # both took part
    got = received(sim)
    assert got["total"] == 20 and got["repeats"] == 0 and got["concurrent"] == 0
    assert {r.status for r in outbox_rows(factory)} == {"acked"}


def test_run_forever_drains_new_rows_until_stopped(factory, sim, make_client, intake):
    client = make_client(ministry_idle_sleep_s=0.05)
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(stop, factory, client))
    worker.start()
    try:
        intake("WLHY_JSY1001", samples.driver())
        intake("WLHY_WZ1001", samples.position_batch())
        deadline = time.monotonic() + 10
        while received(sim)["total"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert {r.status for r in outbox_rows(factory)} == {"acked"} and received(sim)["total"] == 2


def test_backlog_counts_statuses_types_and_oldest_age(factory, sim, make_client, intake):
    intake("WLHY_JSY1001", samples.driver())
    intake("WLHY_CL1001", samples.vehicle())
    intake("WLHY_WZ1001", samples.position_batch())
    oldest = outbox_rows(factory)[0].created_at
    with factory() as s:
        b = backlog(s, now=oldest + dt.timedelta(seconds=60))
    assert b["by_status"] == {"pending": 3, "retry": 0, "acked": 0, "dead": 0} and b["undelivered"] == 3
    assert b["oldest_undelivered_age_s"] == pytest.approx(60, abs=0.001)

    drain_once(factory, make_client(), limit=1)
    with factory() as s:
        b = backlog(s)
    assert b["by_status"]["acked"] == 1 and b["undelivered"] == 2
    assert b["by_ipc_type"]["WLHY_JSY1001"]["acked"] == 1 and b["by_ipc_type"]["WLHY_WZ1001"]["pending"] == 1


def test_encrypted_position_archive_is_opened_with_a_previous_province_key(factory):
    current, previous = crypto.generate_keypair(), crypto.generate_keypair()
    plain = json.dumps(samples.position_batch(), ensure_ascii=False).encode()
    code, content = crypto.seal(plain, previous[1])
    with factory() as s:
        s.add_all([
            ProvinceKey(key_id="k2", public_key_hex=current[1], status="current",
                        private_key_wrapped=province_keys.wrap_private_key("k2", current[0])),
            ProvinceKey(key_id="k1", public_key_hex=previous[1], status="previous",
                        private_key_wrapped=province_keys.wrap_private_key("k1", previous[0])),
        ])
        msg = Message(ipc_type="WLHY_WZ1001", encrypted_code=code, encrypted_content=content,
                      result_code=1001)
        s.add(msg)
        s.flush()
        row = Outbox(message_id=msg.id, ipc_type="WLHY_WZ1001", document_kind="position",
                     ministry_reference_number=uuid.uuid4().hex)
        assert payload_for(s, row) == samples.position_batch()
        msg.encrypted_content = content[:-8] + "AAAAAAA="
        with pytest.raises(PayloadUnavailable):
            payload_for(s, row)


def test_row_without_a_stored_version_is_dead_at_once(factory, sim, make_client):
    with factory() as s:
        s.add(Outbox(ipc_type="WLHY_YD1001", document_kind="waybill", document_id=999, document_version=1,
                     ministry_reference_number=uuid.uuid4().hex))
        s.commit()
    r = drain_once(factory, make_client())
    assert (r.claimed, r.dead) == (1, 1)
    (row,) = outbox_rows(factory)
    assert row.status == "dead" and "no waybill 999 version 1" in row.last_error
    assert sim.state.requests == 0


def test_a_batch_is_sent_concurrently_each_row_once_and_a_correction_after_its_first_version(
        factory, sim, make_client, intake, monkeypatch):
    import threading

    from etl.forwarder import worker

    for n in range(1, 13):  # twelve documents, one of them corrected twice
        v = samples.vehicle()
        v["vehicleNumber"] = f"皖K{n:05d}"
        intake("WLHY_CL1001", v)
    for tonnage in ("20.00", "21.00"):
        v = samples.vehicle()
        v["vehicleNumber"], v["vehicleTonnage"] = "皖K00001", tonnage
        intake("WLHY_CL1001", v)
    threads: set[int] = set()
    send = worker.MinistryClient.send

    def spy(self, envelope):
        threads.add(threading.get_ident())
        return send(self, envelope)

    monkeypatch.setattr(worker.MinistryClient, "send", spy)
    unwrapped = []
    keys = worker._province_keys
    monkeypatch.setattr(worker, "_province_keys", lambda s: unwrapped.append(1) or keys(s))
    client = make_client(ministry_batch_size=20)
    result = drain_once(factory, client)
    # batches of 12, 1, 1: each correction waits for the version before it; the keys are unwrapped once a batch
    assert result.acked == 14 and len(unwrapped) == 3
    assert len(threads) > 1  # the first batch went out on several threads
    rows = outbox_rows(factory)
    assert {r.status for r in rows} == {"acked"} and len(rows) == 14
    got = received(sim)
    assert got["total"] == 14 and got["repeats"] == 0
    tonnages = [got["refs"][r.ministry_reference_number]["payload"].get("vehicleTonnage") for r in rows
                if got["refs"][r.ministry_reference_number]["payload"]["vehicleNumber"] == "皖K00001"]
    assert tonnages[-2:] == ["20.00", "21.00"]
