"""The one configuration place: defaults as version 0, admin-only changes, validated, versioned and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from auth.scope import Scope
from core.errors import ForbiddenError, InvalidInputError
from store.models import AuditLog
from supervision import configuration as config

ADMIN = Scope(role="admin", user_id=None, username="root")


def test_defaults_are_version_zero(session):
    c = config.current(session)
    assert c.version == 0
    assert c.values["indicator_weights"]["fund_matching"] == 20
    assert c.values["alarm_thresholds"]["INTAKE"] == {"warning": 0.01, "severe": 0.05}
    assert c.values["alarm_thresholds"]["TRACK"] == {"warning": 0.05, "severe": 0.15}
    assert config.get(session, "k_anonymity") == 5
    assert config.get(session, "detour_factor") == 1.3 and config.get(session, "appeal_due_days") == 30
    with pytest.raises(KeyError):
        config.get(session, "no_such_key")


def test_admin_change_is_a_new_audited_version(session):
    c1 = config.update(session, {"indicator_weights": {"uniqueness": 0}}, scope=ADMIN, ip="10.0.0.1",
                       comment="uniqueness off")
    assert c1.version == 1 and c1.created_by == "root"
    assert c1.values["indicator_weights"]["uniqueness"] == 0
    assert c1.values["indicator_weights"]["fund_matching"] == 20  # the other weights stay
    c2 = config.update(session, {"k_anonymity": 7}, scope=ADMIN)
    assert c2.version == 2 and c2.values["indicator_weights"]["uniqueness"] == 0
    assert config.current(session).version == 2
    assert [v.version for v in config.history(session)] == [2, 1, 0]
    rows = session.execute(select(AuditLog).where(AuditLog.action == "config_update")
                           .order_by(AuditLog.id)).scalars().all()
    assert [(r.target, r.outcome, r.username) for r in rows] == [("config:1", "ok", "root"),
                                                                   ("config:2", "ok", "root")]
    assert rows[0].detail["changes"] == {"indicator_weights": {"uniqueness": 0}} and rows[0].ip == "10.0.0.1"


@pytest.mark.parametrize("role", ["province", "city", "county", "analyst", "operator"])
def test_only_admin_changes_it_and_refusals_are_audited(session, role):
    with pytest.raises(ForbiddenError):
        config.update(session, {"k_anonymity": 7}, scope=Scope(role=role, username="someone"))
    assert config.current(session).version == 0
    row = session.execute(select(AuditLog).where(AuditLog.action == "config_update")).scalar_one()
    assert row.outcome == "refused" and row.username == "someone"


@pytest.mark.parametrize("changes, words", [
    ({"indicator_weights": {"uniqueness": -1}}, "non-negative"),
    ({"indicator_weights": {i: 0 for i in config.INDICATORS}}, "sum to more than 0"),
    ({"indicator_weights": {"speed": 3}}, "unknown indicators"),
    ({"alarm_thresholds": {"TRACK": {"warning": 0.2, "severe": 0.1}}}, "warning < severe"),
    ({"alarm_thresholds": {"TRACK": {"warning": 0, "severe": 0.1}}}, "0 < warning"),
    ({"alarm_thresholds": {"TRACK": {"warning": 0.1, "severe": 1.5}}}, "severe ≤ 1"),
    ({"alarm_thresholds": {"NOPE": {"warning": 0.1, "severe": 0.2}}}, "unknown anomaly groups"),
    ({"k_anonymity": 1}, "k_anonymity"),
    ({"detour_factor": 0.5}, "detour_factor"),
    ({"alarm_window_days": "30"}, "alarm_window_days"),
    ({"colour": "red"}, "unknown settings"),
    ({}, "no changes"),
    ({"k_anonymity": 5}, "as it is"),
])
def test_invalid_changes_are_refused_with_a_clear_message(session, changes, words):
    with pytest.raises(InvalidInputError) as e:
        config.update(session, changes, scope=ADMIN)
    assert words in str(e.value)
    assert config.current(session).version == 0
