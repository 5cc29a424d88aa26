"""Base data (一数一源): one row per real operator, vehicle, driver; platform access accounts; province keys.

Each document table keeps the current version; every version ever accepted is in ``document_version``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, VersionedDocument, created_at_col, first_seen_col, pk_col

__all__ = ["Account", "Driver", "DocumentVersion", "Operator", "ProvinceKey", "Vehicle", "DOCUMENT_KINDS"]

DOCUMENT_KINDS = ("operator", "vehicle", "driver", "waybill", "fund_flow")


class Operator(Base):
    """A network-freight platform operator (网络货运经营者), keyed by its unified social credit code."""

    __tablename__ = "operator"

    id: Mapped[int] = pk_col()
    usci: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(512))
    permit_number: Mapped[str | None] = mapped_column(String(50))
    legal_representative: Mapped[str | None] = mapped_column(String(64))
    contact_person: Mapped[str | None] = mapped_column(String(64))
    telephone: Mapped[str | None] = mapped_column(String(18))
    division_code: Mapped[str | None] = mapped_column(String(6), index=True)  # registered county
    address: Mapped[str | None] = mapped_column(String(256))
    is_sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[dt.datetime] = created_at_col()
    updated_at: Mapped[dt.datetime] = created_at_col()


class Account(Base):
    """A platform's exchange access account (userName/passWord of spec/EXCHANGE.md §1.1)."""

    __tablename__ = "account"
    __table_args__ = (CheckConstraint("status IN ('active','suspended')", name="status"),)

    id: Mapped[int] = pk_col()
    user_name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    sandbox: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[dt.datetime] = created_at_col()
    updated_at: Mapped[dt.datetime] = created_at_col()


class ProvinceKey(Base):
    """The province's SM2 key pairs; ``current`` and, during a rotation window, ``previous`` both decrypt."""

    __tablename__ = "province_key"
    __table_args__ = (CheckConstraint("status IN ('current','previous','retired')", name="status"),)

    id: Mapped[int] = pk_col()
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    public_key_hex: Mapped[str] = mapped_column(String(130))
    private_key_hex: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = created_at_col()
    retire_after: Mapped[dt.datetime | None]


class Vehicle(VersionedDocument, Base):
    """A vehicle (WLHY_CL1001), one row per (plate number, plate colour)."""

    __tablename__ = "vehicle"
    __table_args__ = (Index("uq_vehicle_plate", "vehicle_number", "plate_color", unique=True),)

    id: Mapped[int] = pk_col()
    vehicle_number: Mapped[str] = mapped_column(String(35))
    plate_color: Mapped[str] = mapped_column(String(2))
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"), index=True)
    vehicle_type: Mapped[str | None] = mapped_column(String(3))
    owner: Mapped[str | None] = mapped_column(String(128))
    use_character: Mapped[str | None] = mapped_column(String(20))
    vin: Mapped[str | None] = mapped_column(String(32))
    issuing_organizations: Mapped[str | None] = mapped_column(String(128))
    register_date: Mapped[dt.date | None] = mapped_column(Date)
    issue_date: Mapped[dt.date | None] = mapped_column(Date)
    energy_type: Mapped[str | None] = mapped_column(String(12))
    tonnage_t: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    gross_mass_t: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    road_transport_certificate_number: Mapped[str | None] = mapped_column(String(20))
    trailer_plate_number: Mapped[str | None] = mapped_column(String(35))
    remark: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = first_seen_col()


class Driver(VersionedDocument, Base):
    """A driver (WLHY_JSY1001), one row per ID number (``drivingLicense`` on the wire)."""

    __tablename__ = "driver"

    id: Mapped[int] = pk_col()
    driving_license: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(30))
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"), index=True)
    vehicle_class: Mapped[str | None] = mapped_column(String(20))
    issuing_organizations: Mapped[str | None] = mapped_column(String(128))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    qualification_certificate: Mapped[str | None] = mapped_column(String(19))
    telephone: Mapped[str | None] = mapped_column(String(18))
    remark: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = first_seen_col()


class DocumentVersion(Base):
    """Every accepted version of every document; the current one has ``superseded_at`` NULL."""

    __tablename__ = "document_version"
    __table_args__ = (
        Index("uq_document_version", "kind", "document_id", "version", unique=True),
        CheckConstraint("kind IN ('operator','vehicle','driver','waybill','fund_flow')", name="kind"),
    )

    id: Mapped[int] = pk_col()
    kind: Mapped[str] = mapped_column(String(16))
    document_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[dt.datetime] = created_at_col()
    superseded_at: Mapped[dt.datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
