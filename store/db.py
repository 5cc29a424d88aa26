"""Engine and sessions; the database URL in use (``WLHY_DATABASE_URL`` or the local cluster under ``var/``)."""

from __future__ import annotations

import re
import select
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
from psycopg import pq
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from core.config import get_settings
from store.cluster import APP_ROLE, OWNER_ROLE, Cluster

__all__ = ["DEFAULT_DBNAME", "commit", "database_url", "ensure_database", "get_engine", "local_cluster", "migration_url",
           "pg", "psycopg_dsn", "safe_error", "session_scope"]

DEFAULT_DBNAME = "wlhy"


def local_cluster() -> Cluster:
    """The embedded default cluster: ``var/pg`` on 127.0.0.1:55432 (port from ``WLHY_PG_PORT``)."""
    s = get_settings()
    return Cluster(data_dir=s.var_dir / "pg" / "data", port=s.pg_port)


def database_url() -> str:
    """SQLAlchemy URL the app uses: ``WLHY_DATABASE_URL`` when set, else the local cluster's ``wlhy`` database as
    the app role ``wlhy_app`` (DML only; its password from ``var/pg/credentials.json``)."""
    s = get_settings()
    return s.database_url or local_cluster().url(DEFAULT_DBNAME, role=APP_ROLE)


def migration_url() -> str:
    """SQLAlchemy URL migrations use: ``WLHY_MIGRATION_DATABASE_URL``; else, with ``WLHY_DATABASE_URL`` set, that
    one (a single role, unrestricted: set both on a real server); else the local cluster as the owner role."""
    s = get_settings()
    return s.migration_database_url or s.database_url or local_cluster().url(DEFAULT_DBNAME, role=OWNER_ROLE)


def ensure_database(migrate: bool = True) -> str:
    """Make the database in use ready and return the app's URL.

    When it is the local cluster: initialise (once) and start it, create the roles and the database (owned by the
    owner role).  Then, unless told otherwise, run the migrations up to head as the owner (:func:`migration_url`),
    which grant the app role what it needs.
    """
    from store.migrate import upgrade  # Alembic is needed only here

    if not get_settings().database_url:
        cluster = local_cluster()
        cluster.start()
        cluster.ensure_database(DEFAULT_DBNAME)
    url = database_url()
    if migrate:
        from sqlalchemy.engine import make_url

        upgrade(migration_url(), app_role=make_url(url).username or APP_ROLE)
    return url


def psycopg_dsn(url: str | None = None) -> str:
    """The same URL as a plain libpq URL, for raw psycopg connections (COPY)."""
    return (url or database_url()).replace("postgresql+psycopg://", "postgresql://")


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """One pooled engine per URL.

    A pooled connection the server has closed (PostgreSQL restarted or killed, the backend terminated) is replaced
    at checkout, as ``pool_pre_ping`` would, but found by polling its socket instead of a round trip: an intake
    message checks out twice, and two pings were two of its ~17 round trips.  ``pool_recycle`` bounds the age of a
    connection whose peer vanished without closing it (no FIN), which only a query would show.
    """
    # hide_parameters: a database error's message must not carry ID numbers or phones into logs.
    engine = create_engine(url or database_url(), pool_size=5, max_overflow=10, pool_recycle=600,
                           hide_parameters=True)
    event.listen(engine, "checkout", _refuse_closed)
    _raw_savepoints(engine.dialect)
    return engine


def _raw_savepoints(dialect) -> None:
    """SAVEPOINT and RELEASE SAVEPOINT straight to psycopg instead of through ``Connection.execute``.

    Every intake message processes in a savepoint (etl.intake.pipeline): the default way costs about 0.2 ms of
    Python each, compiling and executing a constant statement.  The names are the ones SQLAlchemy generates
    (``sa_savepoint_N``); any other, and any failure, takes the default way (which raises SQLAlchemy's own error).
    """
    default_savepoint, default_release = dialect.do_savepoint, dialect.do_release_savepoint

    def raw(default, verb):
        def do(connection, name):
            if _SAVEPOINT_NAME.fullmatch(name):
                try:
                    connection.connection.driver_connection.execute(f"{verb} {name}")
                    return
                except psycopg.Error:
                    pass
            default(connection, name)
        return do

    dialect.do_savepoint = raw(default_savepoint, "SAVEPOINT")
    dialect.do_release_savepoint = raw(default_release, "RELEASE SAVEPOINT")


_SAVEPOINT_NAME = re.compile(r"sa_savepoint_\d+")


def _refuse_closed(dbapi_connection, _record, _proxy) -> None:
    """Pool checkout: a connection the server has closed is discarded and another one taken (the pool retries)."""
    if _closed_by_server(dbapi_connection):
        raise DisconnectionError("connection closed by the server")


def _closed_by_server(conn) -> bool:
    """True when an idle psycopg connection is unusable: libpq says so, or its socket is readable.

    An idle connection's server sends nothing unprompted but its last words (``terminating connection …``) and
    the end of the stream, so anything to read means it is going away (a NOTICE would be the only other case: such
    a connection is discarded too, which costs a reconnect, never a failed request).  A local ``poll``, no I/O.
    """
    pgconn = conn.pgconn
    if pgconn.status != pq.ConnStatus.OK:
        return True
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


def pg(session: Session) -> psycopg.Connection:
    """The psycopg connection under ``session``, in its transaction (and savepoint).

    Hot paths (the intake, the job queue) send their statements straight to it: ``Session.execute`` costs about
    ten times the Python of the round trip itself per statement.  Pending ORM changes are flushed first, so a raw
    statement sees them.
    """
    if not session._is_clean():  # what flush() itself checks first; ``session.dirty`` builds a list every time
        session.flush()
    # Looked up once per transaction: ``Session.connection()`` costs more Python than a statement's own psycopg
    # call, and a message makes about ten of them.  The connection stays the same until the root transaction ends.
    root, cached = session.get_transaction(), session.info.get(_PG_KEY)
    if root is not None and cached is not None and cached[0] is root:
        return cached[1]
    conn = session.connection().connection.driver_connection
    session.info[_PG_KEY] = (session.get_transaction(), conn)
    return conn


_PG_KEY = "store.db.pg"  # session.info: (root transaction, its psycopg connection)


def commit(session: Session) -> None:
    """``session.commit()`` for hot paths (the intake commits every message's outcome): pending ORM changes are
    flushed, then the psycopg connection commits, past SQLAlchemy's transaction machinery (a tenth of a message's
    Python).  SQLAlchemy's transaction stays open on the same connection, whose next statement begins the next
    database transaction, as after a commit; objects are not expired (as with ``expire_on_commit=False``).

    Only when the session owns its database transaction (bound to an Engine, no savepoint of its own open, its
    connection found by :func:`pg`); otherwise, e.g. a session joined to a caller's transaction, ``session.commit()``.
    """
    root, cached = session.get_transaction(), session.info.get(_PG_KEY)
    if (cached is None or root is None or cached[0] is not root or not isinstance(session.bind, Engine)
            or session.in_nested_transaction() or session.expire_on_commit):
        session.commit()
        return
    if not session._is_clean():
        session.flush()
    cached[1].commit()


@contextmanager
def session_scope(url: str | None = None, *, factory: sessionmaker | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error (CLI, background work, API requests)."""
    session = (factory or sessionmaker(get_engine(url), expire_on_commit=False))()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def safe_error(exc: BaseException) -> str:
    """A description of ``exc`` fit for logs: for database errors the SQLSTATE and PostgreSQL's primary message only.

    The server's DETAIL ("Failing row contains (…)", "Key (…)=(…)") and SQLAlchemy's parameters would carry ID
    numbers and phones into the log; neither is included.
    """
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    if diag is not None and getattr(diag, "message_primary", None):
        return f"{type(orig).__name__} [{getattr(orig, 'sqlstate', '?')}]: {diag.message_primary}"
    return type(exc).__name__
