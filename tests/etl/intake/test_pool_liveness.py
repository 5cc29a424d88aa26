"""A pooled connection whose server side went away is replaced at checkout, without a round trip of its own.

The engine has no ``pool_pre_ping`` (two round trips per intake message): ``store.db.get_engine`` finds a closed
connection by its socket.  Without that, the next request after a PostgreSQL restart or a killed backend fails.
"""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import text

from store.db import get_engine


def test_a_connection_closed_by_the_server_is_replaced_at_checkout(pg_admin_dsn, db_url):
    engine = get_engine(db_url)
    with engine.connect() as conn:
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:  # as PostgreSQL's restart would, for this one
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    time.sleep(0.2)  # the backend's goodbye reaches the socket
    with engine.connect() as conn:  # the same pool: the closed connection is the one it would hand out
        again = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert again != first
