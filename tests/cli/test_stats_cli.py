"""``wlhy stats rebuild`` re-derives the statistics of a range on the configured database and says what it wrote."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from core.config import get_settings
from store.db import get_engine
from tests.conftest import make_database
from tests.supervision.statistics.helpers import make_operator, send_waybill

runner = CliRunner()


def test_stats_rebuild_rewrites_the_days(monkeypatch, pg_admin_dsn):
    url = make_database(pg_admin_dsn)
    monkeypatch.setenv("WLHY_DATABASE_URL", url)
    get_settings.cache_clear()
    eng = create_engine(url)
    try:
        with Session(eng) as s:
            op = make_operator(s, 1)
            send_waybill(s, op, "YD1", plate="皖A50001")
            send_waybill(s, op, "YD2", plate="皖A50002", receipt_at="20240316100000")
            s.commit()
        result = runner.invoke(app, ["stats", "rebuild", "--from", "2024-03-15", "--to", "2024-03-16",
                                     "--no-density"])
        assert result.exit_code == 0, result.output
        assert "stat_daily rows" in result.output and "waybills" in result.output
        with Session(eng) as s:
            days = s.execute(text("SELECT day, waybills FROM stat_daily ORDER BY day")).all()
            assert [(d.isoformat(), n) for d, n in days] == [("2024-03-15", 1), ("2024-03-16", 1)]
            assert s.scalar(text("SELECT count(*) FROM stat_dirty")) == 0  # the marks of those days are consumed
        bad = runner.invoke(app, ["stats", "rebuild", "--from", "2024-03-16", "--to", "2024-03-15"])
        assert bad.exit_code != 0
    finally:
        get_settings.cache_clear()
        get_engine(url).dispose()
        eng.dispose()
