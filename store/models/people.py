"""People (app_user), their sessions and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, created_at_col, pk_col

__all__ = ["ROLES", "AppUser", "AuditChainHead", "AuditLog", "UserSession"]

ROLES = ("admin", "province", "city", "county", "analyst", "operator")


class AppUser(Base):
    """A person who logs in to the API or dashboard, with one role.

    Regulators (province/city/county) are scoped to ``division_code``; an ``operator`` user is tied to one
    platform (``operator_id``).
    """

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("role IN ('admin','province','city','county','analyst','operator')", name="role"),
        CheckConstraint("role NOT IN ('province','city','county') OR division_code IS NOT NULL", name="scope"),
        CheckConstraint("role <> 'operator' OR operator_id IS NOT NULL", name="operator"),
    )

    id: Mapped[int] = pk_col()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    division_code: Mapped[str | None] = mapped_column(String(6))
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"))
    full_name: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[dt.datetime] = created_at_col()
    last_login_at: Mapped[dt.datetime | None]


class UserSession(Base):
    """A bearer token issued at login; only its SHA-256 is stored so a database dump leaks no token."""

    __tablename__ = "user_session"

    id: Mapped[int] = pk_col()
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = created_at_col()
    expires_at: Mapped[dt.datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class AuditLog(Base):
    """Who did what and when (logins, unmasked reads, workflow actions); no personal data in ``detail``.

    Append-only, sealed into an SM3 hash chain when its transaction commits (migration 0003): ``chain_seq``,
    ``prev_hash`` and ``row_hash`` are the database's to set; ``auth.audit`` writes and verifies.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_chain_seq", "chain_seq", unique=True),
        # the login throttles' counts (auth.throttle.wait_s), migration 0007
        Index("ix_audit_log_action_ip_at", "action", "ip", "at"),
        Index("ix_audit_log_action_username_at", "action", "username", "at"),
    )

    id: Mapped[int] = pk_col()
    at: Mapped[dt.datetime] = created_at_col()
    user_id: Mapped[int | None] = mapped_column(BigInteger)  # no FK: an append-only row outlives its user
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    role: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16), default="ok", server_default="ok")
    chain_seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """The one row holding the audit chain's last position and hash (a deleted tail row is seen against it)."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_hash: Mapped[str | None] = mapped_column(String(64))
