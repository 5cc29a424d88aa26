"""Migrations go up and down cleanly on an empty PostGIS database, and build the tables outside SQL relies on."""

from __future__ import annotations

import psycopg
from sqlalchemy import create_engine, inspect, text

from store.migrate import downgrade, upgrade
from tests.conftest import make_database

EXPECTED_TABLES = {
    "operator", "vehicle", "vehicle_report", "driver", "driver_report", "account", "app_user", "province_key", "document_version",
    "waybill", "waybill_vehicle", "waybill_driver", "waybill_goods", "fund_flow", "fund_flow_waybill",
    "fund_flow_payment", "position", "message", "outbox", "exchange_error", "trajectory", "verification",
    "anomaly", "alarm", "alarm_event", "appeal", "rectification", "indicator_value", "score", "stat_daily",
    "od_flow", "density_daily", "job", "audit_log", "user_session", "system_meta",
}


def test_up_down_up_on_empty_database(pg_admin_dsn):
    url = make_database(pg_admin_dsn, migrate=False, role="owner")
    eng = create_engine(url)
    try:
        upgrade(url)
        assert EXPECTED_TABLES <= set(inspect(eng).get_table_names())
        downgrade(url)
        left = set(inspect(eng).get_table_names()) - {"spatial_ref_sys", "alembic_version"}
        assert left == set()
        upgrade(url)
        assert EXPECTED_TABLES <= set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_position_is_partitioned_by_beijing_day(session):
    name = session.execute(text("SELECT wlhy_ensure_position_partition('2026-10-01')")).scalar_one()
    assert name == "position_p20261001"
    # idempotent
    assert session.execute(text("SELECT wlhy_ensure_position_partition('2026-10-01')")).scalar_one() == name
    bounds = session.execute(
        text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'position_p20261001'")
    ).scalar_one()
    # Beijing midnight is 16:00 UTC the day before.
    assert "2026-09-30 16:00:00+00" in bounds and "2026-10-01 16:00:00+00" in bounds


def test_geometry_columns_are_wgs84_with_gist_indexes(session):
    rows = session.execute(
        text("SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns ORDER BY 1, 2")
    ).all()
    cols = {(r[0], r[1]): (r[2], r[3]) for r in rows}
    assert cols[("position", "geom")] == (4326, "POINT")
    assert cols[("waybill_vehicle", "loading_geom")] == (4326, "POINT")
    assert cols[("trajectory", "geom")] == (4326, "LINESTRINGM")
    gist = {r[0] for r in session.execute(text("SELECT indexname FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'"))}
    assert {"ix_position_geom", "ix_trajectory_geom", "ix_waybill_vehicle_loading_geom"} <= gist


def test_trajectory_lines_are_stored_without_compression(session):
    # 0016: pglz on every LINESTRING M cost about half of writing a trajectory, for little space
    storage = session.execute(text(
        "SELECT attstorage FROM pg_attribute WHERE attrelid = 'trajectory'::regclass AND attname = 'geom'")).scalar()
    assert storage == "e"


def test_natural_keys_are_unique(session):
    idx = {
        r[0]: r[1]
        for r in session.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
    }
    # Every platform's documents are its own, and joint-test (sandbox) ones are apart from production ones.
    assert "UNIQUE" in idx["uq_waybill_key"]
    assert "(operator_id, shipping_note_number, serial_number, is_sandbox)" in idx["uq_waybill_key"]
    assert "UNIQUE" in idx["uq_fund_flow_key"] and "(operator_id, document_number, is_sandbox)" in idx["uq_fund_flow_key"]
    assert "UNIQUE" in idx["uq_vehicle_plate"]  # one vehicle (一数一源) …
    assert "(operator_id, vehicle_number, plate_color, is_sandbox)" in idx["uq_vehicle_report_key"]  # … many reports
    assert "(operator_id, driving_license, is_sandbox)" in idx["uq_driver_report_key"]
    assert "UNIQUE" in idx["pk_position"]
    assert "(vehicle_number, plate_color, source, operator_id, t)" in idx["pk_position"]


def test_beidou_fixes_belong_to_no_operator_and_app_fixes_to_one(session):
    """ck_position_owner: source 2 (national platform) has operator 0, source 1 (app) a real operator."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    session.execute(text("SELECT wlhy_ensure_position_partition('2026-10-01')"))
    row = ("INSERT INTO position (t, vehicle_number, plate_color, source, operator_id, geom, h3) "
           "VALUES ('2026-10-01 08:00+08', '皖A00001', '2', :s, :o, ST_SetSRID(ST_MakePoint(117, 31), 4326), 1)")
    for source, operator in ((2, 7), (1, 0)):
        with pytest.raises(IntegrityError), session.begin_nested():
            session.execute(text(row), {"s": source, "o": operator})
    session.execute(text(row), {"s": 2, "o": 0})
    session.execute(text(row), {"s": 1, "o": 7})
    session.execute(text(row), {"s": 1, "o": 8})  # another platform's fix of the same vehicle and time
    assert session.execute(text("SELECT count(*) FROM position")).scalar_one() == 3


def test_concurrent_writers_of_a_new_day_both_succeed(pg_admin_dsn):
    """Two transactions creating the same new partition: the second waits for the first, neither fails."""
    import threading

    url = make_database(pg_admin_dsn)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    first = psycopg.connect(dsn)
    first.execute("SELECT wlhy_ensure_position_partition('2026-12-01')")  # transaction left open
    outcome = {}

    def second() -> None:
        with psycopg.connect(dsn) as conn:
            try:
                outcome["name"] = conn.execute("SELECT wlhy_ensure_position_partition('2026-12-01')").fetchone()[0]
                conn.commit()
            except psycopg.Error as e:  # pragma: no cover - the failure this test guards against
                outcome["error"] = e

    t = threading.Thread(target=second)
    t.start()
    t.join(timeout=1)
    assert t.is_alive()  # waiting for the first transaction
    first.commit()
    first.close()
    t.join(timeout=10)
    assert outcome == {"name": "position_p20261201"}


def test_concurrent_writers_of_several_new_days_do_not_deadlock(pg_admin_dsn):
    """Two transactions each creating two new days in opposite order (what two 10,000-fix messages do)."""
    import threading

    url = make_database(pg_admin_dsn)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    errors = []
    barrier = threading.Barrier(2)

    def writer(days) -> None:
        with psycopg.connect(dsn) as conn:
            try:
                barrier.wait()
                for d in days:
                    conn.execute("SELECT wlhy_ensure_position_partition(%s)", (d,))
                conn.commit()
            except psycopg.Error as e:
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(["2026-12-02", "2026-12-03"],)),
               threading.Thread(target=writer, args=(["2026-12-03", "2026-12-02"],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []


def test_database_errors_do_not_echo_personal_data(db_url):
    """What the intake logs of a database error (safe_error) carries no ID number, though the server's DETAIL does."""
    import pytest
    from sqlalchemy.exc import DBAPIError

    from store.db import get_engine, safe_error

    with get_engine(db_url).connect() as conn, pytest.raises(DBAPIError) as err:
        conn.execute(text("INSERT INTO driver (driving_license, name) VALUES (:id, :name)"),
                     {"id": "34010419900307001X", "name": "张三"})  # misses NOT NULL columns
    assert "34010419900307001X" in str(err.value)  # PostgreSQL's DETAIL: "Failing row contains (…)"
    logged = safe_error(err.value)
    assert "34010419900307001X" not in logged and "not-null" in logged


def test_models_match_the_migrated_schema(db_url):
    """The mapped tables (``Base.metadata``) and the database the migrations build do not differ.

    Tables, columns (types, nullability, server defaults), indexes, unique and foreign-key constraints are
    compared; only PostGIS's own ``spatial_ref_sys`` and the day partitions of ``position`` are left out.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from geoalchemy2 import alembic_helpers

    import store.models  # noqa: F401  (registers every table)
    from store.models.base import Base

    def include_object(obj, name, type_, reflected, compare_to):
        if type_ == "table" and (name == "spatial_ref_sys" or (name or "").startswith("position_p")):
            return False
        return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)

    eng = create_engine(db_url)
    try:
        with eng.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={"include_object": include_object, "compare_type": True, "compare_server_default": True},
            )
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        eng.dispose()
    assert diff == []
