"""The ``wlhy`` command line: every group is there; ``wlhy forward --once`` against the Ministry simulator."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from core.config import get_settings
from etl.schemas import samples
from simulation.servers.ministry import FaultsIn
from store.db import get_engine
from store.models import Outbox
from tests.etl.forwarder.conftest import MINISTRY_PASSWORD, MINISTRY_USER

GROUPS = ("db", "demo", "serve", "users", "keys", "accounts", "client", "simulators", "verify", "worker", "forward",
          "audit", "rules")

runner = CliRunner()


def test_help_lists_every_group():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.strip("│ ").split(" ", 1)[0] for line in result.output.splitlines()}
    assert set(GROUPS) <= listed, result.output


@pytest.mark.parametrize("group", GROUPS)
def test_each_group_has_its_help(group):
    result = runner.invoke(app, [group, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.fixture
def ministry_env(monkeypatch, fw_engine, sim, ministry_keys):
    """WLHY_DATABASE_URL and WLHY_MINISTRY_* pointing at the test database and the live simulator."""
    url = fw_engine.url.render_as_string(hide_password=False)
    for name, value in {"WLHY_DATABASE_URL": url, "WLHY_MINISTRY_URL": sim.url,
                        "WLHY_MINISTRY_USER_NAME": MINISTRY_USER, "WLHY_MINISTRY_PASSWORD": MINISTRY_PASSWORD,
                        "WLHY_MINISTRY_PUBLIC_KEY_HEX": ministry_keys[1]}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()  # settings are read once per process; these tests change the environment
    yield url
    get_settings.cache_clear()
    get_engine(url).dispose()


def _said(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _outbox(factory) -> list[Outbox]:
    with factory() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def test_forward_once_delivers_the_outbox_and_exits(ministry_env, factory, sim, intake):
    intake("WLHY_JSY1001", samples.driver())
    intake("WLHY_CL1001", samples.vehicle())
    refs = [r.ministry_reference_number for r in _outbox(factory)]
    assert len(refs) == 2

    result = runner.invoke(app, ["forward", "--once"])
    assert result.exit_code == 0, result.output
    assert "delivered 2, failed 0, dead-lettered 0" in _said(result)
    with sim.state.lock:
        assert sorted(sim.state.by_ref) == sorted(refs)
        assert {r["ipcType"] for r in sim.state.by_ref.values()} == {"WLHY_JSY1001", "WLHY_CL1001"}
    assert [(r.status, r.ministry_code) for r in _outbox(factory)] == [("acked", 1001), ("acked", 1001)]

    again = runner.invoke(app, ["forward", "--once"])  # nothing left due
    assert again.exit_code == 0 and "delivered 0, failed 0, dead-lettered 0" in _said(again)
    assert sim.state.requests == 2


def test_forward_once_with_the_ministry_down_exits_1_and_keeps_the_row(ministry_env, factory, sim, intake):
    intake("WLHY_JSY1001", samples.driver())
    sim.state.faults = FaultsIn(mode="down")
    result = runner.invoke(app, ["forward", "--once"])
    assert result.exit_code == 1, result.output
    assert "delivered 0, failed 1, dead-lettered 0" in _said(result) and "could not be reached" in _said(result)
    ((status, attempts),) = [(r.status, r.attempts) for r in _outbox(factory)]
    assert (status, attempts) == ("retry", 1) and not sim.state.by_ref


def test_forward_refuses_to_start_without_the_ministry_account(monkeypatch):
    for name in ("WLHY_MINISTRY_USER_NAME", "WLHY_MINISTRY_PASSWORD", "WLHY_MINISTRY_PUBLIC_KEY_HEX"):
        monkeypatch.setenv(name, "")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["forward", "--once"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "WLHY_MINISTRY_PUBLIC_KEY_HEX" in _said(result)


def test_audit_verify_says_intact_then_finds_an_edited_row(monkeypatch, pg_admin_dsn):
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from auth import audit
    from tests.conftest import make_database

    url = make_database(pg_admin_dsn, role="admin")  # the test edits the log behind its triggers' back
    monkeypatch.setenv("WLHY_DATABASE_URL", url)
    get_settings.cache_clear()
    eng = create_engine(url)
    try:
        with Session(eng) as s:
            for k in range(3):
                audit.record(s, "key_rotate", username="cli-test", target=f"province_key:{k}")
            s.commit()
        ok = runner.invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0 and "intact" in ok.output and "3 rows" in ok.output
        with eng.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            conn.execute(text("UPDATE audit_log SET target = 'province_key:9' WHERE chain_seq = 2"))
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        broken = runner.invoke(app, ["audit", "verify"])
        assert broken.exit_code == 1 and "position 2" in _said(broken)
    finally:
        get_settings.cache_clear()
        get_engine(url).dispose()
        eng.dispose()
