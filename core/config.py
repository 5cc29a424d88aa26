"""One settings object (``WLHY_*`` environment variables), shared by every layer, the CLI, API and dashboard.

Each field is read from ``WLHY_<FIELD NAME>``: ``ministry_url`` from ``WLHY_MINISTRY_URL``, ``adapter_retries``
from ``WLHY_ADAPTER_RETRIES``.  Code that needs settings takes a ``Settings`` (tests build one, or
``get_settings().model_copy(update=...)``) or calls :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["REPO_ROOT", "Settings", "get_settings"]

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Runtime configuration; each field's docstring says what it is."""

    model_config = SettingsConfigDict(env_prefix="WLHY_", extra="ignore", use_attribute_docstrings=True)

    # --- the database and the app --------------------------------------------------------------------------------
    database_url: str = ""
    """SQLAlchemy URL the app connects with (its own non-superuser role, DML only); empty means the private cluster
    under ``var/`` as its ``wlhy_app`` role (``wlhy db start``)."""
    migration_database_url: str = ""
    """SQLAlchemy URL migrations run with: the role that owns the schema (``wlhy_owner`` on the local cluster).
    Empty: the local cluster's owner role, or ``WLHY_DATABASE_URL`` itself when only that is set (one role for
    both, which gives up the app role's restrictions: set both on a real server)."""
    master_key: str = ""
    """Master key wrapping the secrets stored in the database (province SM2 private keys, token-signing secret):
    hex of 16 bytes, or several comma-separated, the current one first and older versions after it while they are
    re-wrapped.  Empty: the key file ``master_key_file``."""
    master_key_file: Path | None = None
    """The master key file (mode 0600, made on first use); default ``var/master-key.json``."""
    var_dir: Path = REPO_ROOT / "var"
    """Where the local cluster, key files and demo credentials live."""
    pg_port: int = 55432
    """Port of the local cluster on 127.0.0.1."""
    host: str = "127.0.0.1"
    """Address the app listens on."""
    port: int = 8000
    """Port the app listens on."""
    province_code: str = "340000"
    """GB/T 2260 code of the province this system serves."""
    admin_password: str = ""
    """Password of the demo's ``admin`` user; empty: a random one, printed."""
    token_ttl_s: int = 8 * 3600
    """Lifetime of a person's bearer token, seconds."""
    secret_key: str = ""
    """Reserved for a signing key given from outside; nothing reads it yet."""
    demo_dir: Path = REPO_ROOT / "var" / "demo"
    """Generator output the demo loads and the simulators are seeded from; default ``var_dir/demo``."""
    demo_seed: int = 42
    """Seed of the generated demo province (same seed, same files)."""

    # --- third-party systems (etl.adapters); defaults are the local simulators ----------------------------------
    yunzheng_url: str = "http://127.0.0.1:8101"
    """Base URL of the 运政 registry."""
    national_url: str = "http://127.0.0.1:8102"
    """Base URL of the national freight-vehicle platform."""
    tax_url: str = "http://127.0.0.1:8103"
    """Base URL of the tax system."""
    insurance_url: str = "http://127.0.0.1:8104"
    """Base URL of the insurance system."""
    adapter_timeout_s: float = 5.0
    """Per-attempt timeout of every adapter call, seconds."""
    adapter_retries: int = 2
    """Extra attempts after the first on connection errors, timeouts and 5xx answers."""
    adapter_backoff_s: float = 0.2
    """Sleep before adapter retry k is ``adapter_backoff_s * 2**(k-1)`` seconds."""

    # --- the Ministry forwarder (etl.forwarder, spec/EXCHANGE.md §4) ---------------------------------------------
    ministry_url: str = "http://127.0.0.1:8100"
    """Base URL of the Ministry's exchange (``/auth``, ``/send``)."""
    ministry_user_name: str = ""
    """The province's account at the Ministry."""
    ministry_password: str = ""
    """Its password."""
    ministry_public_key_hex: str = ""
    """The Ministry's SM2 public key, ``04`` + X + Y; documents are sealed under it."""
    ministry_sender_code: str = "340000"
    """The province's exchange code (``SenderCode`` of the envelope)."""
    ministry_document_version_number: str = "2.0"
    """``DocumentVersionNumber`` of the envelope."""
    ministry_serialisation: Literal["json", "xml"] = "json"
    """The Ministry's test environment decides: ``json`` keeps the payload's keys, ``xml`` sends PascalCase."""
    ministry_max_attempts: int = 8
    """Failed deliveries of one outbox row before it is dead-lettered."""
    ministry_base_backoff_s: float = 5.0
    """First retry delay, doubled after each failure (with jitter)."""
    ministry_max_backoff_s: float = 600.0
    """Cap of the retry delay."""
    ministry_batch_size: int = 20
    """Outbox rows claimed per transaction."""
    ministry_timeout_s: float = 30.0
    """HTTP timeout of one call to the Ministry."""
    ministry_idle_sleep_s: float = 2.0
    """Worker's sleep when nothing is due or the Ministry is unreachable."""
    ministry_token_ttl_s: float = 7200.0
    """The Ministry's token lifetime; the client logs in again a little before it ends."""

    # --- the platforms' exchange: limits on hostile input (spec/EXCHANGE.md §1) ------------------------------------
    exchange_max_body: int = 16 * 1024 * 1024
    """Largest ``/exchange/send`` body read, bytes (a 10,000-fix message is ~1.5 MB); larger answers 3004 (413)."""
    exchange_max_json_depth: int = 32
    """Deepest JSON nesting accepted in envelopes, logins and decrypted payloads (the spec's need ~5)."""
    position_max_age_days: int = 30
    """A platform's fix older than this many days (from now) is refused (3005, ``locations[i].dateTime``)."""
    position_max_future_s: int = 600
    """A platform's fix later than now plus this many seconds is refused (3005): clocks drift, not by hours."""
    position_max_days_per_message: int = 3
    """Distinct Beijing days one WLHY_WZ1001 message may span (each day is a ``position`` partition)."""
    position_partition_days_ahead: int = 3
    """Day partitions of ``position`` created ahead of time (today … today + N) by the daily job."""
    exchange_clock_skew_s: int = 600
    """A message whose header ``messageSendingDateTime`` is further than this from our clock, seconds, is flagged
    (INTAKE_TIME_ORDER evidence, a warning in ``msg``); a client on UTC is 8 h off. It is stored as sent."""
    attachments_dir: Path | None = None
    """Where rectification and appeal attachments are stored (content-addressed, 0600); default ``var/attachments``."""
    attachment_max_bytes: int = 10 * 1024 * 1024
    """Largest attachment accepted (each file), bytes."""
    attachment_max_files: int = 5
    """Most attachments in one rectification or appeal."""

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _psycopg_driver(cls, v: str) -> str:
        # SQLAlchemy needs the psycopg 3 driver named; people paste plain postgresql:// URLs.
        if v.startswith(("postgresql://", "postgres://")):
            v = "postgresql+psycopg://" + v.split("://", 1)[1]
        return v

    @field_validator("yunzheng_url", "national_url", "tax_url", "insurance_url")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        # Clients append absolute paths ("/yunzheng/v1/..."); a trailing slash would double it.
        return v.rstrip("/")

    @model_validator(mode="after")
    def _demo_dir_under_var_dir(self) -> Settings:
        # WLHY_VAR_DIR alone moves the demo's data set too: a second demo never reads or writes the first's files
        if "demo_dir" not in self.model_fields_set:
            self.demo_dir = self.var_dir / "demo"
        return self


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
