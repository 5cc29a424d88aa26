"""Migration 0009 on its own: ``registry_answer`` and the ``pending_check`` status come and go cleanly."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text

from store.migrate import downgrade, upgrade
from tests.conftest import make_database


def test_0009_up_down_up(pg_admin_dsn):
    url = make_database(pg_admin_dsn, migrate=False, role="owner")
    eng = create_engine(url)
    try:
        upgrade(url, "0009")
        assert "registry_answer" in inspect(eng).get_table_names()
        with eng.begin() as c:
            c.execute(text("INSERT INTO anomaly (code, group_code, severity, document_kind, document_key, status, "
                           "reason_zh, reason_en) VALUES ('QUAL_VEHICLE_CERT', 'QUAL', 'info', 'waybill', 'waybill:1', "
                           "'pending_check', '未核验', 'not checked yet')"))
        downgrade(url, "0007")
        assert "registry_answer" not in inspect(eng).get_table_names()
        with eng.begin() as c, pytest.raises(Exception) as e:  # the old constraint is back
            c.execute(text("INSERT INTO anomaly (code, group_code, severity, document_kind, document_key, status, "
                           "reason_zh, reason_en) VALUES ('QUAL_VEHICLE_CERT', 'QUAL', 'info', 'waybill', "
                           "'waybill:1', 'pending_check', '未核验', 'not checked yet')"))
        assert isinstance(e.value.orig, psycopg.errors.CheckViolation)
        upgrade(url, "0009")
        assert "registry_answer" in inspect(eng).get_table_names()
    finally:
        eng.dispose()
