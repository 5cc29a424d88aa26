"""Shared fixtures: a throwaway PostGIS cluster for the whole run, a migrated database, rolled-back sessions.

``WLHY_TEST_ADMIN_DSN`` (a libpq DSN of a superuser of a PostGIS-enabled server) makes the suite use an existing
server instead of starting its own cluster.

The app code runs as the app role, as in production: :func:`make_database` returns the ``wlhy_app`` URL (DML only,
migration 0005), so a privilege the app lacks fails a test.  ``role="owner"`` gives the schema owner's URL (what
migrations use) and ``role="admin"`` the superuser's, for tests that tamper with the database on purpose.
The master key is a throwaway key file for the run (``WLHY_MASTER_KEY_FILE``), never ``var/``'s.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core import beijing
from simulation.generator.config import GeneratorConfig
from store.cluster import (
    OWNER_ROLE,
    create_migrated_database,
    ensure_database,
    ensure_roles,
    migration_url,
    role_dsn,
    sqlalchemy_url,
    throwaway_server,
)
from store.cluster import free_port as _free_port
from store.cluster import (
    process_role_passwords as _role_passwords,  # same passwords as create_migrated_database
)

_KEY_DIR = Path(tempfile.mkdtemp(prefix="wlhy-test-keys-"))
os.environ.setdefault("WLHY_MASTER_KEY_FILE", str(_KEY_DIR / "master-key.json"))
atexit.register(shutil.rmtree, _KEY_DIR, True)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """libpq DSN of a superuser connection to a throwaway PostGIS server."""
    with throwaway_server("wlhy-test-pg-") as dsn:
        yield dsn


def make_database(admin_dsn: str, *, migrate: bool = True, role: str = "app") -> str:
    """Create a fresh PostGIS database (migrated to head unless told otherwise); return its SQLAlchemy URL as
    ``role``: ``app`` (what the app connects as; migrated databases only), ``owner`` or ``admin``."""
    name = "wlhy_test_" + uuid.uuid4().hex[:10]
    if migrate:
        app_url = create_migrated_database(admin_dsn, name)
        if role == "app":
            return app_url
        if role == "owner":
            return migration_url(app_url)
    else:
        if role == "app":
            raise ValueError("an unmigrated database has no grants for the app role: ask for role='owner'")
        ensure_roles(admin_dsn, _role_passwords(admin_dsn))
        ensure_database(admin_dsn, name)
        if role == "owner":
            return sqlalchemy_url(role_dsn(admin_dsn, name, OWNER_ROLE, _role_passwords(admin_dsn)[OWNER_ROLE]))
    return sqlalchemy_url(psycopg.conninfo.make_conninfo(admin_dsn, dbname=name))


@pytest.fixture(scope="session")
def db_url(pg_admin_dsn: str) -> str:
    """URL of the run's migrated database (schema built once per run)."""
    return make_database(pg_admin_dsn)


@pytest.fixture(scope="session")
def engine(db_url: str):
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


@contextmanager
def rolled_back_session(engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back at the end (its commits become savepoints)."""
    conn = engine.connect()
    outer = conn.begin()
    sess = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield sess
    finally:
        sess.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    """A session on the run's database, rolled back after the test."""
    with rolled_back_session(engine) as sess:
        yield sess


def empty_database(app_engine, keep: tuple[str, ...] = ()) -> None:
    """TRUNCATE every table of ``app_engine``'s database but ``keep``, PostGIS's and the append-only audit log."""
    keep = ("spatial_ref_sys", "alembic_version", "audit_log", "audit_chain_head", *keep)
    with as_owner(app_engine) as conn:  # TRUNCATE is the owner's, not the app role's
        tables = conn.execute(text(
            "SELECT quote_ident(relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE nspname = 'public' AND relkind IN ('r', 'p') AND NOT relispartition AND relname <> ALL(:keep)"),
            {"keep": list(keep)}).scalars().all()
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@contextmanager
def as_owner(app_engine) -> Iterator:
    """A connection (in a transaction) to ``app_engine``'s database as the schema owner: for test set-up the app
    role may not do, such as TRUNCATE."""
    eng = create_engine(migration_url(app_engine.url.render_as_string(hide_password=False)))
    try:
        with eng.begin() as conn:
            yield conn
    finally:
        eng.dispose()


@pytest.fixture
def operator(session):
    """The sample platform (etl.schemas.samples.operator), in the rolled-back session."""
    from etl.intake.documents import upsert_operator
    from etl.schemas import samples

    op = upsert_operator(session, samples.operator())
    session.flush()
    return op


#: The small generated province that the trajectory-database and dashboard tests load (generated once per run).
#: Its day is recent, as a live system's data is (the alarms' rolling window ends now), and a week old, so that
#: even the late variants (sent up to 5 days late) were sent before today.
SMALL_PROVINCE = GeneratorConfig.small(days=1, waybills=30, vehicles=30, drivers=33,
                                       start=beijing.today() - dt.timedelta(days=8))


@pytest.fixture(scope="session")
def province_dir(tmp_path_factory) -> Path:
    from simulation.generator import generate

    out = tmp_path_factory.mktemp("province30")
    generate(SMALL_PROVINCE, out, progress=False)
    return out


@pytest.fixture(scope="session")
def ground_truth(province_dir) -> list[dict]:
    """The generator's ground truth per waybill (ground_truth.jsonl)."""
    return [json.loads(line) for line in (province_dir / "ground_truth.jsonl").open(encoding="utf-8")]


@contextmanager
def live_server(app, *, start_timeout_s: float = 30.0) -> Iterator[str]:
    """``app`` served by a real uvicorn in a thread on a free port (the wire as clients see it); yields its URL."""
    import threading
    import time

    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def user_maker(engine):
    """``make(role, **kw) -> (username, password)``: committed users (a live server sees them)."""
    from auth import service as auth_service

    def make(role: str = "analyst", **kw) -> tuple[str, str]:
        username = f"{role}-{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        with Session(engine) as s:
            auth_service.create(db_session=s, username=username, password=password, role=role, **kw)
            s.commit()
        return username, password

    return make
