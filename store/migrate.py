"""Alembic migrations, driven from code (``wlhy db upgrade``, tests) with no alembic.ini to keep in sync."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

__all__ = ["alembic_config", "downgrade", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str, app_role: str | None = None) -> Config:
    """An Alembic config pointing at ``store/migrations`` and ``url``.

    ``url`` is the schema owner's (migrations create and alter objects); ``app_role`` is the role the app connects
    as, which the migrations grant DML to (0005); by default the user of ``WLHY_DATABASE_URL``, else ``wlhy_app``.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["app_role"] = app_role or default_app_role()
    return cfg


def default_app_role() -> str:
    """The app's role: the user named in ``WLHY_DATABASE_URL`` when set, else the local cluster's ``wlhy_app``."""
    from sqlalchemy.engine import make_url

    from core.config import get_settings
    from store.roles import APP_ROLE

    url = get_settings().database_url
    return (make_url(url).username or APP_ROLE) if url else APP_ROLE


def upgrade(url: str, revision: str = "head", *, app_role: str | None = None) -> None:
    """Migrate the database at ``url`` up to ``revision`` (default one head: the history is linear)."""
    command.upgrade(alembic_config(url, app_role), revision)


def downgrade(url: str, revision: str = "base", *, app_role: str | None = None) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` drops everything we created)."""
    command.downgrade(alembic_config(url, app_role), revision)
