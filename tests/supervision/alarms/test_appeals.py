"""Appeals against the 运政 simulator: overturned when the registry now confirms the licence on the despatch day,
upheld at the due date when it does not, and — after a simulated outage of the scheduler and of the registry —
every appeal past due decided on the first tick that can ask."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select, text

from auth.scope import Scope
from core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from etl.adapters import YunzhengClient
from simulation.servers.runner import serve
from store.models import Anomaly
from supervision.alarms.jobs import tick
from supervision.appeals import service
from tests.supervision.alarms.helpers import NOW, flag, operator, waybills


@pytest.fixture(scope="module")
def registry():
    with serve("yunzheng", None, port=0) as handle:
        yield handle


@pytest.fixture
def yz(registry):
    httpx.post(f"{registry.url}/admin/faults", json={"mode": "ok"})
    with YunzhengClient(registry.url, timeout_s=2, retries=0) as c:
        yield c
    httpx.post(f"{registry.url}/admin/faults", json={"mode": "ok"})


def _licence(registry, op, *, valid_to="20301231", status="valid"):
    r = httpx.post(f"{registry.url}/admin/records/operator_licences", json=[{
        "permitNumber": op.permit_number, "unifiedSocialCreditIdentifier": op.usci, "name": op.name,
        "validFrom": "20200101", "validTo": valid_to, "status": status}])
    assert r.status_code < 300, r.text


def _qual(session, op, *, detected=NOW - dt.timedelta(days=2)):
    [wid] = waybills(session, op, 1)
    [aid] = flag(session, op, [wid], code="QUAL_OPERATOR_PERMIT", at=detected)
    return aid


def _me(op):
    return Scope(role="operator", operator_id=op.id, user_id=None, username="op")


def test_registry_confirms_at_filing_and_the_anomaly_is_overturned(session, registry, yz):
    op = operator(session)
    aid = _qual(session, op)
    _licence(registry, op)  # the licence is (now) in the registry, valid on the despatch day
    session.execute(text("DELETE FROM rank_dirty WHERE operator_id = :o"), {"o": op.id})
    appeal = service.file_appeal(db_session=session, scope=_me(op), anomaly_id=aid, statement="许可证已续期",
                                 yunzheng=yz, now=NOW)
    anomaly = session.get(Anomaly, aid)
    session.refresh(anomaly)
    assert (appeal.status, appeal.outcome, anomaly.status) == ("decided", "overturned", "overturned")
    assert anomaly.resolved_at is not None
    [c] = appeal.comparisons
    assert c["stage"] == "filing" and c["confirmed"] is True and c["checks"][0]["validOnDay"] is True
    assert appeal.due_at == anomaly.detected_at + dt.timedelta(days=30)
    # the ranking's incremental recomputation is queued for the operator's day (triggers of migration 0012)
    assert session.scalar(text("SELECT count(*) FROM rank_dirty WHERE operator_id = :o"), {"o": op.id}) >= 1


def test_not_confirmed_stays_pending_then_upheld_at_the_due_date(session, registry, yz):
    op = operator(session)
    aid = _qual(session, op)
    _licence(registry, op, valid_to="20260101")  # expired before the despatch day
    appeal = service.file_appeal(db_session=session, scope=_me(op), anomaly_id=aid, statement="有效", yunzheng=yz,
                                 now=NOW)
    assert appeal.status == "pending" and session.get(Anomaly, aid).status == "appealed"
    assert appeal.comparisons[0]["checks"][0]["validOnDay"] is False
    out = service.decide_due(session, yz, now=NOW + dt.timedelta(days=5))  # a daily re-check, not final
    assert appeal.id in out.rechecked and appeal.status == "pending"
    out = service.decide_due(session, yz, now=appeal.due_at)
    anomaly = session.get(Anomaly, aid)
    session.refresh(anomaly)
    assert out.upheld == [appeal.id] and (appeal.outcome, anomaly.status) == ("upheld", "upheld")


def test_after_an_outage_every_past_due_appeal_is_decided_on_the_next_tick(session, registry, yz):
    session.execute(text("UPDATE appeal SET status = 'decided' WHERE status = 'pending'"))  # other tests' leftovers
    op = operator(session)
    # filed while the registry was down: pending, no comparison result
    httpx.post(f"{registry.url}/admin/faults", json={"mode": "down"})
    a1 = service.file_appeal(db_session=session, scope=_me(op), anomaly_id=_qual(session, op), statement="s",
                             yunzheng=yz, now=NOW)
    a2 = service.file_appeal(db_session=session, scope=_me(op), anomaly_id=_qual(session, op), statement="s",
                             yunzheng=yz, now=NOW)
    assert a1.status == a2.status == "pending" and a1.attempts == 1 and "unavailable" in a1.last_error
    # the scheduler was down for 40 days: both are past due. The registry is still down at the first tick:
    late = NOW + dt.timedelta(days=40)
    out = tick(session, yunzheng=yz, now=late)
    assert sorted(out["appealsPastDue"]) == sorted([a1.id, a2.id]) and out["appealsRegistryDown"] == 2
    assert a1.status == "pending" and a1.attempts == 2  # not decided blind: retried, reported
    # the registry is back; one licence is valid now, the other is not in the registry at all
    httpx.post(f"{registry.url}/admin/faults", json={"mode": "ok"})
    _licence(registry, op)
    other = operator(session)
    a3 = service.file_appeal(db_session=session, scope=_me(other), anomaly_id=_qual(session, other),
                             statement="s", yunzheng=None, now=NOW)  # no client at filing: pending
    out = tick(session, yunzheng=yz, now=late + dt.timedelta(minutes=5))
    assert out["appealsPastDue"] == []
    assert (a1.outcome, a2.outcome, a3.outcome) == ("overturned", "overturned", "upheld")
    assert service.past_due(session, now=late + dt.timedelta(minutes=5)) == []


def test_who_may_appeal_what(session, yz):
    op = operator(session)
    aid = _qual(session, op)
    other = operator(session)
    with pytest.raises(NotFoundError):  # another operator's anomaly
        service.file_appeal(db_session=session, scope=_me(other), anomaly_id=aid, statement="s", yunzheng=yz)
    with pytest.raises(ForbiddenError):
        service.file_appeal(db_session=session, scope=Scope(role="county", division_prefix="340104"),
                            anomaly_id=aid, statement="s", yunzheng=yz)
    [wid] = waybills(session, op, 1)
    [track] = flag(session, op, [wid], code="TRACK_MISSING")
    with pytest.raises(InvalidInputError):  # only QUAL_* anomalies
        service.file_appeal(db_session=session, scope=_me(op), anomaly_id=track, statement="s", yunzheng=yz)
    with pytest.raises(InvalidInputError):
        service.file_appeal(db_session=session, scope=_me(op), anomaly_id=aid, statement="  ", yunzheng=yz)
    service.file_appeal(db_session=session, scope=_me(op), anomaly_id=aid, statement="s", yunzheng=None)
    with pytest.raises(ConflictError):  # already under appeal
        service.file_appeal(db_session=session, scope=_me(op), anomaly_id=aid, statement="s", yunzheng=None)
    assert session.scalar(select(Anomaly.status).where(Anomaly.id == aid)) == "appealed"
