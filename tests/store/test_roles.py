"""The app's database role: DML only, no DDL, append-only audit log, partitions only through the function;
the local cluster: passwords (scram-sha-256) everywhere, terse private logs."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from auth import audit
from store.cluster import APP_ROLE, OWNER_ROLE, Cluster, migration_url
from store.db import psycopg_dsn
from tests.conftest import make_database


@pytest.fixture
def cluster_root():
    # Under /tmp itself: as root the server user must reach the data directory (pytest's tmp_path is 0700).
    root = Path(tempfile.mkdtemp(prefix="wlhy-test-pg-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def db_url(pg_admin_dsn):
    # Own database: these tests commit (audit rows, tables), which the rolled-back tests elsewhere must not see.
    return make_database(pg_admin_dsn)


@pytest.fixture(scope="module")
def app_engine(db_url):
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def _refused(app_engine, sql: str) -> str:
    with app_engine.connect() as conn, pytest.raises(DBAPIError) as err:
        conn.execute(text(sql))
    return getattr(err.value.orig, "sqlstate", "")


def test_the_app_role_is_neither_superuser_nor_owner(app_engine):
    with app_engine.connect() as conn:
        me, sup, createrole, createdb = conn.execute(text(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )).one()
        owners = set(conn.execute(text(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"
        )).scalars())
    assert me == APP_ROLE and not (sup or createrole or createdb)
    assert owners == {OWNER_ROLE}


@pytest.mark.parametrize("sql", [
    "CREATE TABLE evil (id int)",
    "CREATE TABLE public.evil (id int)",
    "ALTER TABLE waybill ADD COLUMN evil int",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    "DROP TABLE job",
    "CREATE INDEX evil ON waybill (id)",
    "TRUNCATE waybill",
    "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "UPDATE alembic_version SET version_num = 'x'",
    "UPDATE audit_chain_head SET last_seq = 0",
])
def test_the_app_role_runs_no_ddl(app_engine, sql):
    assert _refused(app_engine, sql) == "42501"  # insufficient_privilege


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log",
                                 "TRUNCATE audit_log"])
def test_the_app_role_may_not_change_the_audit_log_even_with_the_sealing_flag_set(app_engine, sql):
    with app_engine.connect() as conn, pytest.raises(DBAPIError) as err:
        conn.execute(text("SELECT set_config('wlhy.audit_sealing', 'on', false)"))  # the trigger's bypass
        conn.execute(text(sql))
    assert "permission denied" in str(err.value.orig)


def test_the_app_role_writes_the_audit_log_and_its_rows_are_sealed(app_engine):
    target = f"role-test:{uuid.uuid4().hex[:8]}"
    with Session(app_engine) as s:
        audit.record(s, "key_rotate", username="role-test", target=target)
        s.commit()
    with app_engine.connect() as conn:
        seq, row_hash = conn.execute(text("SELECT chain_seq, row_hash FROM audit_log WHERE target = :t"),
                                     {"t": target}).one()
    assert seq is not None and len(row_hash) == 64
    with Session(app_engine) as s:
        assert audit.verify(s).intact


def test_the_app_role_creates_position_partitions_only_through_the_function(app_engine):
    day = dt.date(2031, 1, 2)
    with app_engine.begin() as conn:
        name = conn.execute(text("SELECT wlhy_ensure_position_partition(:d)"), {"d": day}).scalar_one()
        owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = :n"), {"n": name}).scalar_one()
        grants = set(conn.execute(text(
            "SELECT privilege_type FROM information_schema.role_table_grants WHERE table_name = :n AND grantee = :r"
        ), {"n": name, "r": APP_ROLE}).scalars())
        assert conn.execute(text("SELECT count(*) FROM position WHERE t >= :d"), {"d": day}).scalar_one() == 0
    assert name == "position_p20310102" and owner == OWNER_ROLE
    assert {"SELECT", "INSERT", "UPDATE", "DELETE"} <= grants and "TRUNCATE" not in grants  # default privileges
    assert _refused(app_engine, f"DROP TABLE {name}") == "42501"
    assert _refused(app_engine, "CREATE TABLE position_p20310103 PARTITION OF position FOR VALUES FROM "
                                "('2031-01-02 16:00+00') TO ('2031-01-03 16:00+00')") == "42501"


def test_tables_a_later_migration_makes_are_granted_to_the_app(db_url, app_engine):
    owner = create_engine(migration_url(db_url))
    name = "later_" + uuid.uuid4().hex[:8]
    try:
        with owner.begin() as conn:
            conn.execute(text(f"CREATE TABLE {name} (id bigserial PRIMARY KEY, v text)"))
        with app_engine.begin() as conn:
            conn.execute(text(f"INSERT INTO {name} (v) VALUES ('x')"))
            assert conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one() == 1
        assert _refused(app_engine, f"ALTER TABLE {name} ADD COLUMN w int") == "42501"
    finally:
        with owner.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        owner.dispose()


def test_the_app_role_cannot_open_a_connection_as_someone_else(db_url):
    # No trust: the owner's and the superuser's names without their passwords are refused.
    info = psycopg.conninfo.conninfo_to_dict(psycopg_dsn(db_url))
    for user in (OWNER_ROLE, "postgres"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host=info["host"], port=info["port"], dbname=info["dbname"], user=user,
                            password="guess", connect_timeout=5).close()


def test_a_new_cluster_uses_scram_and_keeps_its_secrets_and_logs_private(cluster_root):
    from tests.conftest import _free_port

    cluster = Cluster(data_dir=cluster_root / "pg" / "data", port=_free_port(), fast=True)
    cluster.start()
    try:
        hba = (cluster.data_dir / "pg_hba.conf").read_text()
        assert "trust" not in hba.split("\n", 1)[1] and "scram-sha-256" in hba
        with psycopg.connect(cluster.dsn()) as conn:
            settings = dict(conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('log_error_verbosity', 'log_file_mode', "
                "'password_encryption', 'log_min_error_statement')").fetchall())
        assert settings == {"log_error_verbosity": "terse", "log_file_mode": "0600",
                            "password_encryption": "scram-sha-256", "log_min_error_statement": "panic"}
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres",
                            password="wrong", connect_timeout=5).close()
        for path in (cluster.credentials_file, cluster.log_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(cluster.data_dir.parent.stat().st_mode) in (0o700, 0o711)
    finally:
        cluster.stop()


def test_a_cluster_made_with_trust_is_converted_on_start(cluster_root):
    import subprocess

    from store.cluster import _as_server_user, pg_bindir
    from tests.conftest import _free_port

    cluster = Cluster(data_dir=cluster_root / "pg" / "data", port=_free_port(), fast=True)
    cluster._prepare_dirs()
    subprocess.run(_as_server_user([str(pg_bindir() / "initdb"), "-D", str(cluster.data_dir), "-U", "postgres",
                                    "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]),
                   check=True, capture_output=True)
    with open(cluster.data_dir / "postgresql.conf", "a") as f:
        f.write(f"listen_addresses = '127.0.0.1'\nport = {cluster.port}\nunix_socket_directories = ''\n"
                "shared_buffers = 128MB\nfsync = off\n")
    cluster.start()
    try:
        assert "trust" not in (cluster.data_dir / "pg_hba.conf").read_text().split("\n", 1)[1]
        with psycopg.connect(cluster.dsn()) as conn:
            assert conn.execute("SHOW log_error_verbosity").fetchone()[0] == "terse"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres",
                            password="wrong", connect_timeout=5).close()
    finally:
        cluster.stop()

