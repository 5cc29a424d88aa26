"""Declarative base, naming convention and the column types every table shares."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, MetaData, Numeric, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Money", "VersionedDocument", "created_at_col", "first_seen_col", "pk_col", "utcnow"]

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
    return dt.datetime.now(dt.UTC)


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


def created_at_col(**kw) -> Mapped[dt.datetime]:
    """Row creation time, set by the server."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False, **kw)


# Column order of a versioned document's table: its own columns, then the version columns, its first-seen
# time, ``updated_at`` (the order the migrations create; declarative puts a mixin's columns last otherwise).
_VERSION_ORDER, _FIRST_SEEN_ORDER, _UPDATED_ORDER = 100, 101, 102


def first_seen_col() -> Mapped[dt.datetime]:
    """When a versioned document was first accepted (``created_at`` on base data, ``received_at`` on business data)."""
    return created_at_col(sort_order=_FIRST_SEEN_ORDER)


class VersionedDocument:
    """Columns of a document kept as its latest version (一数一源; every version is in ``document_version``).

    ``version`` counts accepted corrections from 1, ``content_sha256`` is the digest of the current content (a
    re-send with the same digest changes nothing), ``message_id`` the message that brought it, ``is_sandbox``
    marks joint-test data, ``updated_at`` the last correction. Each table adds its first-seen time with
    ``first_seen_col()`` under its own name.
    """

    version: Mapped[int] = mapped_column(Integer, default=1, sort_order=_VERSION_ORDER)
    content_sha256: Mapped[str] = mapped_column(String(64), sort_order=_VERSION_ORDER)
    message_id: Mapped[int | None] = mapped_column(BigInteger, sort_order=_VERSION_ORDER)
    is_sandbox: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="false", sort_order=_VERSION_ORDER
    )
    updated_at: Mapped[dt.datetime] = created_at_col(sort_order=_UPDATED_ORDER)
