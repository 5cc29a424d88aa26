"""Alarm raising on a real PostGIS: a crossing raises one alarm (never a second while it is open), escalates
warning → severe, respects the intake thresholds, the minimum volume and the window after closing; dead letters
raise the province's alarm; overdue rectifications escalate; the tick runs on the job queue."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from auth.scope import Scope
from store.jobs import Worker
from store.models import Alarm, AlarmEvent, AuditLog, Job, Outbox
from supervision.alarms import service
from supervision.alarms.jobs import KIND_ALARMS_TICK, alarms_handlers, ensure_tick
from tests.supervision.alarms.helpers import NOW, flag, messages, operator, waybills


def _alarms(session, op) -> list[Alarm]:
    return list(session.scalars(select(Alarm).where(Alarm.operator_id == op.id).order_by(Alarm.id)))


def _events(session, alarm_id) -> list[str]:
    return list(session.scalars(select(AlarmEvent.action).where(AlarmEvent.alarm_id == alarm_id)
                                .order_by(AlarmEvent.id)))


def test_crossing_raises_one_alarm_with_the_numbers_and_never_a_second(session):
    op = operator(session)
    ids = waybills(session, op, 40)
    flag(session, op, ids[:3])  # 3 / 40 = 7.5 % ≥ 5 % warning, < 15 %
    out = service.evaluate(session, now=NOW)
    [a] = _alarms(session, op)
    assert out.raised == [a.id]
    assert (a.group_code, a.level, a.status, a.division_code) == ("TRACK", "warning", "OPEN", "340104")
    assert a.rate == pytest.approx(0.075) and a.threshold == 0.05
    assert a.evidence["flagged"] == 3 and a.evidence["documents"] == 40 and a.evidence["windowDays"] == 30
    assert a.evidence["denominatorEn"] == "waybills received"
    assert a.due_at == NOW + dt.timedelta(days=15)
    zh, en = service.texts(a)
    assert "7.5%" in zh and "3/40" in zh and "3 of 40 waybills" in en
    assert _events(session, a.id) == ["raise"]
    # evaluated again (and again): still one alarm
    assert service.evaluate(session, now=NOW).raised == []
    service.evaluate(session, now=NOW + dt.timedelta(hours=1))
    assert len(_alarms(session, op)) == 1
    # the database refuses a second open alarm of the same operator × group, whoever writes it
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Alarm(operator_id=op.id, group_code="TRACK", level="warning", rate=0.1, threshold=0.05))
        session.flush()


def test_below_threshold_or_too_few_documents_raises_nothing(session):
    quiet = operator(session)
    ids = waybills(session, quiet, 50)
    flag(session, quiet, ids[:2])  # 4 % < 5 %
    tiny = operator(session)
    ids = waybills(session, tiny, 5)
    flag(session, tiny, ids)  # 100 % of 5: below the minimum volume
    service.evaluate(session, now=NOW)
    assert _alarms(session, quiet) == [] and _alarms(session, tiny) == []


def test_resolved_or_overturned_anomalies_and_old_documents_do_not_count(session):
    op = operator(session)
    old = waybills(session, op, 20, at=NOW - dt.timedelta(days=45))  # outside the 30-day window
    flag(session, op, old)
    ids = waybills(session, op, 20)
    flagged = flag(session, op, ids[:4])
    session.execute(text("UPDATE anomaly SET status = 'overturned' WHERE id = ANY(:i)"), {"i": flagged})
    service.evaluate(session, now=NOW)
    assert _alarms(session, op) == []


def test_warning_escalates_to_severe_with_an_event(session):
    op = operator(session)
    ids = waybills(session, op, 20)
    flag(session, op, ids[:2], code="MATCH_AMOUNT")  # 10 %
    service.evaluate(session, now=NOW)
    [a] = _alarms(session, op)
    assert a.level == "warning"
    flag(session, op, ids[2:4], code="MATCH_PARTY")  # 4 waybills of 20 = 20 % ≥ 15 %
    out = service.evaluate(session, now=NOW + dt.timedelta(minutes=5))
    session.refresh(a)
    assert out.escalated == [a.id] and out.raised == []
    assert (a.level, a.threshold, a.group_code) == ("severe", 0.15, "MATCH") and a.rate == pytest.approx(0.2)
    assert _events(session, a.id) == ["raise", "escalate"]
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "alarm_escalate", AuditLog.target == f"alarm:{a.id}")) == 1


def test_intake_group_uses_messages_and_its_lower_thresholds(session):
    op = operator(session)
    ids = messages(session, op, 50)
    flag(session, op, ids[:1], code="INTAKE_REJECTED", kind="message", at=NOW - dt.timedelta(days=2))
    service.evaluate(session, now=NOW)
    [a] = _alarms(session, op)
    assert (a.group_code, a.level) == ("INTAKE", "warning") and a.rate == pytest.approx(0.02)
    assert a.evidence["denominatorEn"] == "messages sent" and a.evidence["documents"] == 50


def test_after_closing_the_window_starts_again(session):
    op = operator(session)
    ids = waybills(session, op, 20)
    flag(session, op, ids[:5])
    service.evaluate(session, now=NOW)
    [a] = _alarms(session, op)
    a.status, a.closed_at = "CLOSED", NOW + dt.timedelta(hours=1)
    session.flush()
    service.evaluate(session, now=NOW + dt.timedelta(hours=2))
    assert len(_alarms(session, op)) == 1  # the documents it covered do not raise it again
    later = waybills(session, op, 20, at=NOW + dt.timedelta(hours=1, minutes=30))
    flag(session, op, later[:5])
    service.evaluate(session, now=NOW + dt.timedelta(hours=2))
    alarms = _alarms(session, op)
    assert len(alarms) == 2 and alarms[1].status == "OPEN"  # new documents, new alarm


def _dead(session, n: int) -> list[int]:
    import uuid

    rows = [Outbox(ipc_type="WLHY_YD1001", document_kind="waybill", document_id=i, status="dead", attempts=8,
                   ministry_reference_number=uuid.uuid4().hex[:35], last_error="HTTP 500") for i in range(n)]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def test_dead_letters_raise_one_province_alarm_that_grows(session):
    session.execute(text("UPDATE outbox SET status = 'acked' WHERE status = 'dead'"))
    _dead(session, 2)
    first = service.raise_dead_letters(session, now=NOW)
    a = session.get(Alarm, first)
    assert (a.kind, a.operator_id, a.group_code, a.division_code, a.level) == (
        "dead_letter", None, "DEAD_LETTER", "340000", "severe")
    assert a.evidence["count"] == 2
    assert service.raise_dead_letters(session, now=NOW) is None  # nothing new
    _dead(session, 1)
    assert service.raise_dead_letters(session, now=NOW) == first
    session.refresh(a)
    assert a.evidence["count"] == 3 and _events(session, a.id) == ["raise", "dead_letters"]
    # the province staff see it; a county, a city and an operator do not
    province = Scope(role="province", division_prefix="34")
    assert service.get(db_session=session, scope=province, alarm_id=a.id).id == a.id
    for scope in (Scope(role="county", division_prefix="340104"), Scope(role="city", division_prefix="3401"),
                  Scope(role="operator", operator_id=1)):
        assert a.id not in [x.id for x in service.list_alarms(db_session=session, scope=scope).items]
    # only the province staff act on it
    from core.errors import ForbiddenError

    with pytest.raises(ForbiddenError):  # a regulator below the province (here: one whose prefix sees it)
        service.transition(db_session=session, scope=Scope(role="city", division_prefix="34"), alarm_id=a.id,
                           action="acknowledge")
    service.transition(db_session=session, scope=province, alarm_id=a.id, action="acknowledge")
    service.transition(db_session=session, scope=province, alarm_id=a.id, action="close", text="已重发")
    assert a.status == "CLOSED"


def test_overdue_rectification_escalates_once(session):
    op = operator(session)
    ids = waybills(session, op, 20)
    flag(session, op, ids[:2])
    service.evaluate(session, now=NOW)
    [a] = _alarms(session, op)
    assert service.escalate_overdue(session, now=NOW + dt.timedelta(days=14)) == []
    assert service.escalate_overdue(session, now=NOW + dt.timedelta(days=16)) == [a.id]
    session.refresh(a)
    assert a.level == "severe" and a.overdue_at is not None
    assert service.escalate_overdue(session, now=NOW + dt.timedelta(days=17)) == []
    assert _events(session, a.id) == ["raise", "overdue"]


def test_submitted_rectification_is_not_overdue(session):
    op = operator(session)
    ids = waybills(session, op, 20)
    flag(session, op, ids[:2])
    service.evaluate(session, now=NOW)
    [a] = _alarms(session, op)
    me = Scope(role="operator", operator_id=op.id)
    service.transition(db_session=session, scope=me, alarm_id=a.id, action="acknowledge", now=NOW)
    service.transition(db_session=session, scope=me, alarm_id=a.id, action="submit", text="已整改", now=NOW)
    assert service.escalate_overdue(session, now=NOW + dt.timedelta(days=30)) == []


def test_the_tick_runs_on_the_job_queue_and_queues_its_successor(engine):
    from sqlalchemy.orm import sessionmaker

    from tests.conftest import rolled_back_session

    with rolled_back_session(engine) as s:
        factory = sessionmaker(bind=s.connection(), join_transaction_mode="create_savepoint")
        s.execute(text("DELETE FROM job WHERE kind = :k"), {"k": KIND_ALARMS_TICK})
        op = operator(s)
        ids = waybills(s, op, 20, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        flag(s, op, ids[:4])
        ensure_tick(s)
        s.commit()
        handlers = alarms_handlers()
        assert Worker(factory, handlers=handlers).run(stop_when_idle=True) == 1
        assert [a.group_code for a in _alarms(s, op)] == ["TRACK"]
        jobs = s.execute(select(Job.status, Job.run_after).where(Job.kind == KIND_ALARMS_TICK)
                         .order_by(Job.id)).all()
        assert [j.status for j in jobs] == ["done", "pending"]
        assert jobs[1].run_after > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=200)


def test_rectifications_of_many_alarms_in_one_query(session):
    from sqlalchemy import event

    ops = [operator(session, name=f"平台{i}") for i in range(2)]
    alarms = []
    for op in ops:
        flag(session, op, waybills(session, op, 20)[:2])
        service.evaluate(session, now=NOW)
        [a] = _alarms(session, op)
        me = Scope(role="operator", operator_id=op.id)
        service.transition(db_session=session, scope=me, alarm_id=a.id, action="acknowledge", now=NOW)
        service.transition(db_session=session, scope=me, alarm_id=a.id, action="submit", text=f"整改{a.id}", now=NOW)
        alarms.append(a)
    session.flush()
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        got = service.rectifications_of(session, [a.id for a in alarms] + [10**9])
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    assert len(statements) == 1
    assert {i: [r.text for r in rs] for i, rs in got.items()} == {
        alarms[0].id: [f"整改{alarms[0].id}"], alarms[1].id: [f"整改{alarms[1].id}"], 10**9: []}
    assert got[alarms[0].id] == service.rectifications(session, alarms[0].id)
