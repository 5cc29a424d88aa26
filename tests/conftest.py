"""Shared fixtures: a throwaway PostGIS cluster for the whole run, a migrated database, rolled-back sessions.

``WLHY_TEST_ADMIN_DSN`` (a libpq DSN with CREATE DATABASE rights on a PostGIS-enabled server) makes the suite use
an existing server instead of starting its own cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from store.cluster import Cluster, create_migrated_database, ensure_database, sqlalchemy_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """libpq DSN of a superuser connection to a throwaway PostGIS server."""
    if os.environ.get("WLHY_TEST_ADMIN_DSN"):
        yield os.environ["WLHY_TEST_ADMIN_DSN"]
        return
    root = Path(tempfile.mkdtemp(prefix="wlhy-test-pg-"))
    cluster = Cluster(data_dir=root / "data", port=_free_port(), fast=True)
    cluster.start()
    try:
        yield cluster.dsn()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def make_database(admin_dsn: str, *, migrate: bool = True) -> str:
    """Create a fresh PostGIS database (migrated to head unless told otherwise); return its SQLAlchemy URL."""
    name = "wlhy_test_" + uuid.uuid4().hex[:10]
    if migrate:
        return create_migrated_database(admin_dsn, name)
    ensure_database(admin_dsn, name)
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
