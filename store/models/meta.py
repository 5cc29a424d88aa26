"""System facts kept in the database (e.g. which demo data set is loaded), so re-runs stay idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, created_at_col

__all__ = ["SystemMeta"]


class SystemMeta(Base):
    """A key/value fact about this installation."""

    __tablename__ = "system_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[dt.datetime] = created_at_col()
