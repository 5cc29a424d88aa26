"""Promoting a joint-tested account to production is an audit row naming who promoted it, forced or not; a
refused promotion is a ``refused`` row with the reason."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from auth import service as auth_service
from etl.exchange import accounts, onboarding
from store.models import AuditLog, Operator


def test_promotion_is_audited_and_a_refused_one_is_recorded_but_changes_nothing(session):
    tag = uuid.uuid4().hex[:8]
    op = Operator(usci=f"9134010{tag}PR0", name="P", division_code="340104", is_sandbox=True)
    session.add(op)
    session.flush()
    issued = accounts.issue(db_session=session, operator=op, one_time=False)
    admin = auth_service.create(db_session=session, username=f"admin-{tag}", password=uuid.uuid4().hex, role="admin")
    jt = onboarding.open_joint_test(db_session=session, user_name=issued.account.user_name)
    with pytest.raises(accounts.AccountError):  # nothing sent yet: not passed
        onboarding.promote(session, jt.id, by=admin.id)
    [refused] = session.scalars(select(AuditLog).where(AuditLog.action == "joint_test_promote")).all()
    assert refused.outcome == "refused" and "has not passed" in refused.detail["reason"]
    assert session.get(type(issued.account), issued.account.id).sandbox is True  # the refusal changed nothing
    onboarding.promote(session, jt.id, by=admin.id, force=True)
    session.flush()
    [row] = session.scalars(select(AuditLog).where(AuditLog.action == "joint_test_promote",
                                                   AuditLog.outcome == "ok")).all()
    assert (row.user_id, row.username, row.role, row.target) == (admin.id, f"admin-{tag}", "admin",
                                                                  f"joint_test:{jt.id}")
    assert row.detail == {"account": issued.account.user_name, "operatorId": op.id, "forced": True,
                          "passed": False}
    assert issued.account.sandbox is False
