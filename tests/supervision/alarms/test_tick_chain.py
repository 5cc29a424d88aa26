"""The alarms' tick chain outlives a tick that fails every attempt: the worker's keeper queues a new tick, which
runs, without a worker restart (own database: the worker and the keeper commit)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from store.jobs import Worker
from store.models import Job
from supervision.alarms import service
from supervision.alarms.jobs import KIND_ALARMS_TICK, alarms_handlers, keep_ticking
from tests.conftest import make_database


@pytest.fixture(scope="module")
def factory(pg_admin_dsn):
    eng = create_engine(make_database(pg_admin_dsn))
    yield sessionmaker(eng)
    eng.dispose()


def _ticks(factory) -> list[tuple[int, str, int]]:
    with factory() as s:
        return [tuple(r) for r in s.execute(select(Job.id, Job.status, Job.attempts)
                                            .where(Job.kind == KIND_ALARMS_TICK).order_by(Job.id))]


def test_a_tick_failing_five_times_is_followed_by_a_working_one(factory, monkeypatch):
    real, calls = service.evaluate, []

    def flaky(db_session, **kw):
        calls.append(1)
        if len(calls) <= 5:
            raise RuntimeError("evaluation broke")
        return real(db_session, **kw)

    monkeypatch.setattr(service, "evaluate", flaky)
    stop = threading.Event()
    worker = Worker(factory, handlers=alarms_handlers(), max_attempts=5, backoff_s=0.01)
    threads = [threading.Thread(target=worker.run, kwargs={"stop": stop, "idle_sleep_s": 0.05}),
               threading.Thread(target=keep_ticking, args=(factory,), kwargs={"stop": stop, "check_every_s": 0.2})]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(st == "done" for _, st, _ in _ticks(factory)):
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    ticks = _ticks(factory)
    failed = [j for j in ticks if j[1] == "failed"]
    done = [j for j in ticks if j[1] == "done"]
    assert failed and failed[0][2] == 5, ticks  # given up after five attempts …
    assert done and done[0][0] > failed[0][0], ticks  # … and a later tick ran, by the same worker
    assert len(calls) == 6
    assert [st for _, st, _ in ticks].count("pending") == 1  # and the chain goes on: its successor waits
