"""``wlhy alarms evaluate`` and ``wlhy alarms list`` on a database of their own."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from core.config import get_settings
from store.db import get_engine
from tests.supervision.alarms.helpers import flag, operator, waybills

runner = CliRunner()


def test_evaluate_raises_then_list_shows_it_and_a_second_run_raises_nothing(monkeypatch, pg_admin_dsn):
    from tests.conftest import _free_port, make_database

    url = make_database(pg_admin_dsn, role="admin")
    monkeypatch.setenv("WLHY_DATABASE_URL", url)
    monkeypatch.setenv("WLHY_YUNZHENG_URL", f"http://127.0.0.1:{_free_port()}")  # nobody there: no appeal asks
    get_settings.cache_clear()
    eng = create_engine(url)
    try:
        with Session(eng) as s:
            op = operator(s, "340104")
            flag(s, op, waybills(s, op, 20, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))[:4])
            s.commit()
            op_id = op.id
        first = runner.invoke(app, ["alarms", "evaluate"])
        assert first.exit_code == 0, first.output
        assert "│ raised" in first.output and " 1 " in first.output.split("│ raised", 1)[1].splitlines()[0]
        second = runner.invoke(app, ["alarms", "evaluate"])
        assert " 0 " in second.output.split("│ raised", 1)[1].splitlines()[0]
        listed = runner.invoke(app, ["alarms", "list", "--open", "--json"])
        assert listed.exit_code == 0, listed.output
        [row] = [json.loads(line) for line in listed.output.splitlines() if line.strip()]
        assert (row["operatorId"], row["group"], row["level"], row["status"]) == (op_id, "TRACK", "severe", "OPEN")
    finally:
        get_settings.cache_clear()
        get_engine(url).dispose()
        eng.dispose()
