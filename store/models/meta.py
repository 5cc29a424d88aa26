"""System facts kept in the database (e.g. which demo data set is loaded), so re-runs stay idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, created_at_col

__all__ = ["ConfigVersion", "SystemMeta"]


class SystemMeta(Base):
    """A key/value fact about this installation."""

    __tablename__ = "system_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[dt.datetime] = created_at_col()


class ConfigVersion(Base):
    """One accepted version of the configuration (weights, thresholds, rule defaults; migration 0012).

    ``values`` is the whole configuration as it stood after the change; version 0 is the defaults in code
    (``supervision.configuration.DEFAULTS``) and has no row.
    """

    __tablename__ = "config_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    values: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = created_at_col()
    created_by: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
