"""Every refused state change over HTTP leaves an audit row (outcome ``refused``, with the reason), though the
refusal rolls the request back; the SM3 chain stays intact (``wlhy audit verify``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from core.config import get_settings
from store.db import get_engine
from store.models import AuditLog
from tests.api.conftest import login_as
from tests.api.test_onboarding import _apply, _licence, _usci, live, registry, staff  # noqa: F401 - fixtures


def _rows(engine, action: str, **where) -> list[AuditLog]:
    with Session(engine) as s:
        q = select(AuditLog).where(AuditLog.action == action)
        for column, value in where.items():
            q = q.where(getattr(AuditLog, column) == value)
        return list(s.scalars(q.order_by(AuditLog.id)))


def _audit_verify(monkeypatch, db_url: str) -> str:
    monkeypatch.setenv("WLHY_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["audit", "verify"])
    finally:
        get_settings.cache_clear()
        get_engine(db_url).dispose()
    assert out.exit_code == 0, out.output
    return out.output


def test_a_refused_promotion_is_audited_with_its_reason(live, http, registry, make_user, engine, db_url,  # noqa: F811
                                                        monkeypatch):
    admin_name, admin = login_as(http, make_user, "admin")
    usci = _usci()
    granted = _apply(http, admin, usci, _licence(registry, usci)).json()
    jt = http.post("/api/v1/joint-tests", headers=admin, json={"userName": granted["userName"]}).json()
    r = http.post(f"/api/v1/joint-tests/{jt['id']}/promote", headers=admin)
    assert r.status_code == 409 and "one-time password" in r.json()["detail"]
    [row] = _rows(engine, "joint_test_promote", target=f"joint_test:{jt['id']}")
    assert (row.outcome, row.username, row.role) == ("refused", admin_name, "admin")
    assert "one-time password" in row.detail["reason"] and row.detail["account"] == granted["userName"]
    assert row.ip == "127.0.0.1"
    # the refusal changed nothing: the account is still on the test channel
    assert http.get(f"/api/v1/joint-tests/{jt['id']}", headers=admin).json()["mode"] == "sandbox"
    # the opening of the joint test is on record too
    assert [x.outcome for x in _rows(engine, "joint_test_open", target=f"joint_test:{jt['id']}")] == ["ok"]
    assert "intact" in _audit_verify(monkeypatch, db_url)


def test_refused_onboarding_steps_are_audited(live, http, registry, make_user, engine):  # noqa: F811
    admin_name, admin = login_as(http, make_user, "admin")
    nobody = http.post("/api/v1/joint-tests", headers=admin, json={"userName": "no.such.account"})
    assert nobody.status_code == 409
    [row] = _rows(engine, "joint_test_open", username=admin_name)
    assert row.outcome == "refused" and "no account" in row.detail["reason"]
    usci = _usci()
    bad = _apply(http, admin, usci, "皖交运管许可合字999999999999号")
    assert bad.status_code == 422
    [row] = _rows(engine, "access_application", username=admin_name)
    assert row.outcome == "refused" and "not in the road-transport registry" in row.detail["reason"]
    assert row.target == f"usci:{usci}"


def test_rejected_configuration_changes_are_audited(http, make_user, engine):
    admin_name, admin = login_as(http, make_user, "admin")
    r = http.put("/api/v1/config", json={"changes": {"indicator_weights": {"uniqueness": -5}}}, headers=admin)
    assert r.status_code == 422
    r = http.put("/api/v1/config", json={"changes": {}}, headers=admin)
    assert r.status_code == 422
    rows = _rows(engine, "config_update", username=admin_name)
    assert [x.outcome for x in rows] == ["refused", "refused"]
    assert "non-negative" in rows[0].detail["reason"] and rows[0].detail["settings"] == ["indicator_weights"]
    assert "no changes" in rows[1].detail["reason"]


def test_a_refused_appeal_is_audited(http, make_user, engine):
    county_name, county = login_as(http, make_user, "county", division_code="340104")
    r = http.post("/api/v1/appeals", json={"anomalyId": 1, "statement": "不服"}, headers=county)
    assert r.status_code == 403
    [row] = _rows(engine, "appeal_file", username=county_name)
    assert (row.outcome, row.role, row.target) == ("refused", "county", "anomaly:1")
    assert "only an operator" in row.detail["reason"]


def test_a_refused_alarm_evaluation_is_audited(http, make_user, engine):
    county_name, county = login_as(http, make_user, "county", division_code="340104")
    assert http.post("/api/v1/alarms", headers=county).status_code == 403
    [row] = _rows(engine, "alarm_evaluate", username=county_name)
    assert row.outcome == "refused" and "may not run the alarm evaluation" in row.detail["reason"]
