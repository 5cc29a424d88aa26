"""One settings object (``WLHY_*`` environment variables), shared by CLI, API and dashboard."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["REPO_ROOT", "Settings", "get_settings"]

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Runtime configuration.

    ``database_url`` empty means "the private cluster under ``var/``" that ``wlhy db start`` runs
    (see ``store.cluster``); set ``WLHY_DATABASE_URL`` to use an existing server instead.
    """

    model_config = SettingsConfigDict(env_prefix="WLHY_", extra="ignore")

    database_url: str = ""
    var_dir: Path = REPO_ROOT / "var"
    pg_port: int = 55432
    host: str = "127.0.0.1"
    port: int = 8000
    province_code: str = "340000"
    admin_password: str = ""
    token_ttl_s: int = 8 * 3600
    secret_key: str = ""
    demo_dir: Path = REPO_ROOT / "var" / "demo"
    demo_seed: int = 42

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, v: str) -> str:
        # SQLAlchemy needs the psycopg 3 driver named; people paste plain postgresql:// URLs.
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+psycopg://" + v.split("://", 1)[1]
        return v


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
