"""Migration 0015: the first page of the fund-flow and anomaly lists comes from an index, not from reading and
sorting the whole table (what bench/queries.py's EXPLAIN showed behind those routes' latency).

The database is the bench's own bulk fill (bench/queries.py), so the test also keeps the bench working.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.dialects import postgresql

from auth.scope import Scope
from store.cluster import migration_url
from store.models import Anomaly, FundFlow
from store.paging import order
from supervision.anomalies import service as anomalies
from supervision.waybills.service import FUND_FLOW_SORTS
from tests.conftest import make_database

BENCH = Path(__file__).resolve().parents[2] / "bench"
PROVINCE = Scope(role="province", division_prefix="34")


def _bench_queries():
    sys.path.insert(0, str(BENCH))  # the bench imports its sibling _http
    try:
        spec = importlib.util.spec_from_file_location("bench_queries", BENCH / "queries.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def filled(pg_admin_dsn):
    url = make_database(pg_admin_dsn)
    counts = _bench_queries().fill(url, ops=8, n=300, waybills=3000)
    engine = create_engine(migration_url(url))
    yield engine, counts
    engine.dispose()


def _plan(conn, query) -> str:
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    return "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())


def _fund_flow_page():
    q = select(FundFlow).where(PROVINCE.operator_filter(FundFlow.operator_id), FundFlow.is_sandbox.is_(False))
    return q.order_by(*order(FUND_FLOW_SORTS, "-sendToProAt", FundFlow.id)).limit(100)


def _anomaly_page():
    q = anomalies._query(PROVINCE, anomalies.AnomalyFilter())
    return q.order_by(*order(anomalies.SORTS, "-detectedAt", Anomaly.id)).limit(100)


def test_bench_fill_has_the_demo_proportions(filled):
    _, counts = filled
    assert counts["waybill"] == 3000 and counts["waybill_vehicle"] == 3000 and counts["verification"] == 3000
    assert counts["fund_flow"] == 3000 - 3000 // 20  # every 20th waybill has no fund flow (MATCH_NO_FUND_FLOW)
    assert 0.3 * 3000 < counts["anomaly"] < 0.6 * 3000


@pytest.mark.parametrize(("query", "index"), [(_fund_flow_page, "ix_fund_flow_send_to_pro"),
                                              (_anomaly_page, "ix_anomaly_detected")])
def test_province_lists_read_from_the_0015_indexes(filled, query, index):
    engine, _ = filled
    with engine.connect() as conn:
        assert index in _plan(conn, query())


@pytest.mark.parametrize(("query", "index"), [(_fund_flow_page, "ix_fund_flow_send_to_pro"),
                                              (_anomaly_page, "ix_anomaly_detected")])
def test_without_the_index_the_whole_table_is_sorted(filled, query, index):
    engine, _ = filled
    with engine.connect() as conn, conn.begin() as tx:  # DROP INDEX is transactional: rolled back below
        conn.execute(text(f"DROP INDEX {index}"))
        plan = _plan(conn, query())
        tx.rollback()
    assert index not in plan and "Seq Scan" in plan and "Sort" in plan
