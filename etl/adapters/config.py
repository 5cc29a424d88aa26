"""Where the third-party systems live and how patiently to call them (``WLHY_*`` environment variables)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AdapterSettings", "get_adapter_settings"]


class AdapterSettings(BaseSettings):
    """Base URLs and call policy of the adapter clients.

    ``WLHY_YUNZHENG_URL``, ``WLHY_NATIONAL_URL``, ``WLHY_TAX_URL``, ``WLHY_INSURANCE_URL`` default to
    the local simulators (``simulation.servers.runner.serve_all``); ``WLHY_ADAPTER_TIMEOUT_S``,
    ``WLHY_ADAPTER_RETRIES`` and ``WLHY_ADAPTER_BACKOFF_S`` apply to every client.
    """

    model_config = SettingsConfigDict(env_prefix="WLHY_", extra="ignore")

    yunzheng_url: str = "http://127.0.0.1:8101"
    national_url: str = "http://127.0.0.1:8102"
    tax_url: str = "http://127.0.0.1:8103"
    insurance_url: str = "http://127.0.0.1:8104"
    adapter_timeout_s: float = 5.0
    adapter_retries: int = 2
    adapter_backoff_s: float = 0.2

    @field_validator("yunzheng_url", "national_url", "tax_url", "insurance_url")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        # Clients append absolute paths ("/yunzheng/v1/..."); a trailing slash would double it.
        return v.rstrip("/")


@lru_cache
def get_adapter_settings() -> AdapterSettings:
    """Return the process-wide adapter settings (read once from the environment)."""
    return AdapterSettings()
