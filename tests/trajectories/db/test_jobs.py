"""The job queue on a real PostgreSQL: idempotent enqueue, two workers never run a job twice, retries, due scan."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from store.jobs import Worker, claim, enqueue
from store.models import Job, Operator, Verification, Waybill
from tests.conftest import make_database
from trajectories.jobs import KIND_VERIFY_BATCH, KIND_VERIFY_WAYBILL, enqueue_due_verifications, verification_handlers

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def queue_factory(pg_admin_dsn):
    eng = create_engine(make_database(pg_admin_dsn), pool_size=6)
    yield sessionmaker(eng, expire_on_commit=False)
    eng.dispose()


def test_enqueue_is_idempotent_while_pending(session):
    a = enqueue(session, "echo", "k:1", {"n": 1})
    b = enqueue(session, "echo", "k:1", {"n": 2})
    other = enqueue(session, "echo", "k:2")
    assert a == b != other
    assert session.scalar(select(func.count()).select_from(Job).where(Job.key == "k:1")) == 1
    # once the first is taken, the same key can be queued again (e.g. new fixes arrived meanwhile)
    job = claim(session, worker="w", kinds=["echo"])
    assert job is not None and job.id == a and job.attempts == 1
    assert enqueue(session, "echo", "k:1") != a


def test_claim_skips_jobs_not_yet_due_and_other_kinds(session):
    enqueue(session, "later", "x", run_after=dt.datetime.now(UTC) + dt.timedelta(hours=1))
    enqueue(session, "other", "y")
    assert claim(session, worker="w", kinds=["later"]) is None
    assert claim(session, worker="w", kinds=["other"]).key == "y"


def test_two_workers_run_every_job_exactly_once(queue_factory):
    with queue_factory() as s:
        ids = [enqueue(s, "echo", f"two:{i}", {"i": i}) for i in range(40)]
        s.commit()
    ran: list[tuple[str, int]] = []
    lock = threading.Lock()
    failed_once: set[int] = set()

    def handler_for(name):
        def handle(session, payload):
            i = payload["i"]
            with lock:
                ran.append((name, i))
                first_try_of_7 = i == 7 and i not in failed_once
                failed_once.add(i)
            time.sleep(0.01)  # long enough that both workers are busy at once
            if first_try_of_7:
                raise RuntimeError("transient failure")
        return handle

    workers = [Worker(queue_factory, name=n, handlers={"echo": handler_for(n)}, backoff_s=0.0) for n in ("A", "B")]
    threads = [threading.Thread(target=w.run, kwargs={"stop_when_idle": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    per_job = Counter(i for _, i in ran)
    assert set(per_job) == set(range(40))
    assert per_job[7] == 2 and all(n == 1 for i, n in per_job.items() if i != 7)
    assert {name for name, _ in ran} == {"A", "B"}
    with queue_factory() as s:
        rows = s.execute(select(Job.status, Job.attempts, Job.last_error).where(Job.id.in_(ids))).all()
    assert Counter(r.status for r in rows) == {"done": 40}
    assert sorted(r.attempts for r in rows)[-1] == 2 and sum(r.attempts for r in rows) == 41


def test_failing_job_gives_up_after_max_attempts(queue_factory):
    with queue_factory() as s:
        job_id = enqueue(s, "boom", "boom:1")
        s.commit()

    def boom(session, payload):
        raise ValueError("always broken")

    w = Worker(queue_factory, handlers={"boom": boom}, max_attempts=3, backoff_s=0.0)
    assert w.run(stop_when_idle=True) == 3
    with queue_factory() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.attempts) == ("failed", 3)
        assert "always broken" in job.last_error


def _waybill(session: Session, operator_id: int, n: int, receipt_at: dt.datetime) -> Waybill:
    t = receipt_at
    w = Waybill(
        operator_id=operator_id, shipping_note_number=f"DUE{n:08d}", serial_number="0000", original_document_number="x",
        vehicle_amount=1, transport_type_code="1", business_type_code="1002996", carrier="c", usci="u" * 18,
        permit_number="p", send_to_pro_at=t, consignment_at=t - dt.timedelta(hours=5),
        despatch_at=t - dt.timedelta(hours=4), receipt_at=t, total_amount=1, consignor="a", consignor_id="a",
        loading_division_code="340100", consignee="b", receipt_division_code="340200", actual_carrier_name="d",
        actual_carrier_license="l", actual_carrier_id="i", policy_number="none", insurance_company_code="none",
        content_sha256="0" * 64,
    )
    session.add(w)
    session.flush()
    return w


def test_due_scan_queues_complete_unverified_waybills_once(session):
    op = Operator(name="op", usci="913401007000000001", permit_number="p")
    session.add(op)
    session.flush()
    now = dt.datetime(2026, 10, 3, 12, tzinfo=UTC)
    done_long_ago = _waybill(session, op.id, 1, now - dt.timedelta(hours=5))
    verified = _waybill(session, op.id, 2, now - dt.timedelta(hours=5))
    within_grace = _waybill(session, op.id, 3, now - dt.timedelta(hours=1))
    session.add(Verification(waybill_id=verified.id, verdict="PASS", rules=[], current=True))
    session.flush()

    assert enqueue_due_verifications(session, now=now) == 1
    keys = session.scalars(select(Job.key).where(Job.kind == KIND_VERIFY_WAYBILL)).all()
    assert keys == [f"waybill:{done_long_ago.id}"]
    assert enqueue_due_verifications(session, now=now) == 0  # already pending
    # two hours later the third one is due as well
    assert enqueue_due_verifications(session, now=now + dt.timedelta(hours=2)) == 1
    assert f"waybill:{within_grace.id}" in session.scalars(select(Job.key)).all()


def test_due_scan_puts_a_backlog_in_batches_and_new_waybills_in_their_own_lane(session):
    op = Operator(name="op", usci="913401007000000002", permit_number="p")
    session.add(op)
    session.flush()
    now = dt.datetime(2026, 10, 3, 12, tzinfo=UTC)
    old = [_waybill(session, op.id, 10 + i, now - dt.timedelta(days=1, minutes=i)) for i in range(3)]
    new = _waybill(session, op.id, 20, now - dt.timedelta(hours=3))
    newer = _waybill(session, op.id, 21, now - dt.timedelta(hours=2, minutes=30))

    assert enqueue_due_verifications(session, now=now) == 5
    live = session.execute(select(Job.key, Job.run_after).where(Job.kind == KIND_VERIFY_WAYBILL)
                           .order_by(Job.run_after)).all()
    # one job each, due when the waybill completed (receipt + 2 h): run in order of completion
    assert [k for k, _ in live] == [f"waybill:{new.id}", f"waybill:{newer.id}"]
    assert live[0].run_after == new.receipt_at + dt.timedelta(hours=2)
    [batch] = session.scalars(select(Job).where(Job.kind == KIND_VERIFY_BATCH)).all()
    # the back-log is one batch, oldest completion first
    assert batch.payload["waybill_ids"] == [w.id for w in reversed(old)]
    assert enqueue_due_verifications(session, now=now) == 0  # nothing twice, batched or not


def test_the_backlog_lane_does_not_hold_up_a_new_waybill(session):
    # The live lane's worker claims only live jobs: a back-log queued before it does not stand in its way.
    enqueue(session, KIND_VERIFY_BATCH, "waybills:old", {"waybill_ids": [1]},
            run_after=dt.datetime(2026, 1, 1, tzinfo=UTC))
    enqueue(session, KIND_VERIFY_WAYBILL, "waybill:new", {"waybill_id": 2})
    handlers = verification_handlers()
    assert set(handlers) == {KIND_VERIFY_WAYBILL, KIND_VERIFY_BATCH}
    job = claim(session, worker="live", kinds=[KIND_VERIFY_WAYBILL])
    assert job is not None and job.key == "waybill:new"
