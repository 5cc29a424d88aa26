"""Engine and sessions; the database URL in use (``WLHY_DATABASE_URL`` or the local cluster under ``var/``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from core.config import get_settings
from store.cluster import APP_ROLE, OWNER_ROLE, Cluster

__all__ = ["DEFAULT_DBNAME", "database_url", "ensure_database", "get_engine", "local_cluster", "migration_url",
           "psycopg_dsn", "safe_error", "session_scope"]

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
    """One pooled engine per URL."""
    # hide_parameters: a database error's message must not carry ID numbers or phones into logs.
    return create_engine(url or database_url(), pool_pre_ping=True, pool_size=5, max_overflow=10,
                         hide_parameters=True)


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
