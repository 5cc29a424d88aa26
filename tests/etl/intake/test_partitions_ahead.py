"""Day partitions of ``position`` are made ahead, so platform traffic never creates one under the global lock."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from etl.intake import partitions
from tests.conftest import make_database


def test_ensure_ahead_creates_the_window_once(pg_admin_dsn):
    engine = create_engine(make_database(pg_admin_dsn))
    factory = sessionmaker(engine)
    try:
        today = dt.date(2026, 12, 2)
        assert partitions.ensure_ahead(factory, today=today, days_back=2, days_ahead=3) == 6
        assert partitions.ensure_ahead(factory, today=today, days_back=2, days_ahead=3) == 0  # idempotent
        with engine.connect() as conn:
            names = set(conn.execute(text("SELECT relname FROM pg_class WHERE relkind = 'r' AND "
                                          "(relname LIKE 'position_p202612%' OR relname LIKE 'position_p202611%')")).scalars())
        assert names == {f"position_p{d:%Y%m%d}" for d in partitions.days_needed(today, days_back=2, days_ahead=3)}
        # the default window: 30 days back (+1) and the configured days ahead
        assert partitions.ensure_ahead(factory, today=today) == (31 + 1 + 3) - 6
    finally:
        engine.dispose()
