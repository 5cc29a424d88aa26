"""Settings of the Ministry forwarder (``WLHY_MINISTRY_*`` environment variables)."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ForwarderSettings"]


class ForwarderSettings(BaseSettings):
    """Where and how the outbox is delivered to the Ministry (spec/EXCHANGE.md §4).

    ``serialisation`` is a setting because the Ministry's test environment decides it: ``"json"`` (default)
    sends the payload with its keys as received; ``"xml"`` sends PascalCase elements.
    """

    model_config = SettingsConfigDict(env_prefix="WLHY_MINISTRY_", extra="ignore")

    url: str = "http://127.0.0.1:8100"
    user_name: str = ""
    password: str = ""
    public_key_hex: str = ""  # the Ministry's SM2 public key, "04" + X + Y
    sender_code: str = "340000"  # the province's exchange code
    document_version_number: str = "2.0"
    serialisation: Literal["json", "xml"] = "json"
    max_attempts: int = 8
    base_backoff_s: float = 5.0
    max_backoff_s: float = 600.0
    batch_size: int = 20
    timeout_s: float = 30.0
    idle_sleep_s: float = 2.0
    token_ttl_s: float = 7200.0  # the Ministry's token lifetime; we log in again a little before it ends
