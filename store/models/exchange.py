"""Exchange: the inbound message archive, its field errors, and the outbox to the Ministry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, created_at_col, pk_col

__all__ = ["REFERENCE_IN_USE", "ExchangeError", "JointTest", "Message", "Outbox"]

# Which archived messages hold their (sender, messageReferenceNumber): see Message.
REFERENCE_IN_USE = "duplicate_of IS NULL AND coalesce(result_code, 0) NOT IN (3003, 9001)"


class Message(Base):
    """Every inbound message, archived before it is processed (rejected and replayed ones included).

    A replay of a used ``messageReferenceNumber`` is archived with ``duplicate_of`` pointing at the first one.
    A reference whose message failed on our side (3003 not queued, 9001 internal error) was not processed, so it
    stays free: the platform may retry under the same reference.
    """

    __tablename__ = "message"
    __table_args__ = (
        Index(
            "uq_message_reference",
            "user_name",
            "message_reference_number",
            unique=True,
            postgresql_where=text(REFERENCE_IN_USE),
        ),
        Index("ix_message_received", "received_at"),
        Index("ix_message_operator_received", "operator_id", "received_at"),
        Index("ix_message_account_c1", "account_id", "c1_hex", postgresql_where=text("c1_hex IS NOT NULL")),
        # Archived but without an outcome (in flight, or interrupted): what the recovery sweep looks for.
        Index("ix_message_unfinished", "received_at", postgresql_where=text("result_code IS NULL")),
    )

    id: Mapped[int] = pk_col()
    received_at: Mapped[dt.datetime] = created_at_col()
    account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"))
    user_name: Mapped[str | None] = mapped_column(String(64))
    message_reference_number: Mapped[str | None] = mapped_column(String(64))
    ipc_type: Mapped[str | None] = mapped_column(String(16))
    document_name: Mapped[str | None] = mapped_column(String(64))
    sender_code: Mapped[str | None] = mapped_column(String(20))
    sent_at_text: Mapped[str | None] = mapped_column(String(32))
    header: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The raw wire body: the envelope's ciphertext fields, or the plain payload on the internal path.
    encrypted_code: Mapped[str | None] = mapped_column(Text)
    encrypted_content: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    digest_sm3: Mapped[str | None] = mapped_column(String(64))
    c1_hex: Mapped[str | None] = mapped_column(String(130))
    weak_envelope: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    is_sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    channel: Mapped[str] = mapped_column(String(16), default="exchange", server_default="exchange")
    result_code: Mapped[int | None] = mapped_column(Integer)
    result_msg: Mapped[str | None] = mapped_column(Text)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    document_count: Mapped[int | None] = mapped_column(Integer)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("message.id"))
    processed_at: Mapped[dt.datetime | None]


class ExchangeError(Base):
    """One field error of a rejected message (field path, rule, message), for reports and the joint test."""

    __tablename__ = "exchange_error"

    id: Mapped[int] = pk_col()
    message_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("message.id", ondelete="CASCADE"), index=True)
    result_code: Mapped[int] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)


class Outbox(Base):
    """A document version to forward to the Ministry (at-least-once, ordered per document)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_document", "document_kind", "document_id", "id"),
    )

    id: Mapped[int] = pk_col()
    created_at: Mapped[dt.datetime] = created_at_col()
    message_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("message.id"))
    ipc_type: Mapped[str] = mapped_column(String(16))
    document_kind: Mapped[str] = mapped_column(String(16))
    document_id: Mapped[int | None] = mapped_column(BigInteger)
    document_version: Mapped[int | None] = mapped_column(SmallInteger)
    ministry_reference_number: Mapped[str] = mapped_column(String(35), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = created_at_col()
    last_error: Mapped[str | None] = mapped_column(Text)
    ministry_code: Mapped[int | None] = mapped_column(Integer)
    ministry_msg: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None]
    acked_at: Mapped[dt.datetime | None]


class JointTest(Base):
    """A joint-test session (联调测试) of a sandbox account: its messages since ``opened_at`` make the report."""

    __tablename__ = "joint_test"

    id: Mapped[int] = pk_col()
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("account.id"), index=True)
    opened_at: Mapped[dt.datetime] = created_at_col()
    opened_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    closed_at: Mapped[dt.datetime | None]
    promoted_at: Mapped[dt.datetime | None]
    promoted_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
