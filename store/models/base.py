"""Declarative base, naming convention and the column types every table shares."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, MetaData, Numeric, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Money", "created_at_col", "pk_col", "utcnow"]

# Stable constraint names so Alembic migrations (up and down) are reproducible.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(18, 3)


def utcnow() -> dt.datetime:
    """Aware UTC now (never naive datetimes)."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    """Base of every mapped table (one schema, Alembic-managed)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dt.datetime: DateTime(timezone=True),
        Decimal: Numeric(18, 3),
    }


def pk_col() -> Mapped[int]:
    """Surrogate bigint identity key."""
    return mapped_column(BigInteger, primary_key=True, autoincrement=True)


def created_at_col() -> Mapped[dt.datetime]:
    """Row creation time, set by the server."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
