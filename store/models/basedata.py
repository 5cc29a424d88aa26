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

__all__ = [
    "DOCUMENT_KINDS",
    "Account",
    "DocumentVersion",
    "Driver",
    "DriverReport",
    "Operator",
    "ProvinceKey",
    "Vehicle",
    "VehicleReport",
]

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
    #: Bound into every exchange token; suspend, reset and a password change bump it (migration 0007).
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = created_at_col()
    updated_at: Mapped[dt.datetime] = created_at_col()


class ProvinceKey(Base):
    """The province's SM2 key pairs; ``current`` and, during a rotation window, ``previous`` both decrypt."""

    __tablename__ = "province_key"
    __table_args__ = (CheckConstraint("status IN ('current','previous','retired')", name="status"),)

    id: Mapped[int] = pk_col()
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    public_key_hex: Mapped[str] = mapped_column(String(130))
    private_key_wrapped: Mapped[str] = mapped_column(Text)
    """The private key wrapped under the master key (``core.secrets_wrap``; etl.exchange.keys wraps and opens it)."""
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = created_at_col()
    retire_after: Mapped[dt.datetime | None]


class _VehicleFields:
    """What a platform reports about a vehicle (WLHY_CL1001), shared by the vehicle and each platform's report."""

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


class Vehicle(_VehicleFields, VersionedDocument, Base):
    """A vehicle, one row per (plate number, plate colour) however many platforms report it (一数一源).

    What each platform reports is its own :class:`VehicleReport`. ``operator_id`` is the first production
    platform that reported the vehicle (it never changes hands); the attribute and version columns mirror *that*
    platform's latest report, for display. Another platform's report never changes this row. Sandbox (joint-test)
    reports never create or change a vehicle row.
    """

    __tablename__ = "vehicle"
    __table_args__ = (Index("uq_vehicle_plate", "vehicle_number", "plate_color", unique=True),)

    id: Mapped[int] = pk_col()
    vehicle_number: Mapped[str] = mapped_column(String(35))
    plate_color: Mapped[str] = mapped_column(String(2))
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"), index=True)
    created_at: Mapped[dt.datetime] = first_seen_col()


class VehicleReport(_VehicleFields, VersionedDocument, Base):
    """One platform's report of one vehicle: its latest version (history in ``document_version``, kind
    ``vehicle``, ``document_id`` = this row's id); natural key (operator, plate, colour, sandbox).

    A production report links the shared :class:`Vehicle` (``vehicle_id``); a sandbox report links nothing.
    """

    __tablename__ = "vehicle_report"
    __table_args__ = (
        Index("uq_vehicle_report_key", "operator_id", "vehicle_number", "plate_color", "is_sandbox", unique=True),
        Index("ix_vehicle_report_vehicle", "vehicle_id"),
        CheckConstraint("is_sandbox = (vehicle_id IS NULL)", name="sandbox_unlinked"),
    )

    id: Mapped[int] = pk_col()
    vehicle_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("vehicle.id"))
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    vehicle_number: Mapped[str] = mapped_column(String(35))
    plate_color: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = first_seen_col()


class _DriverFields:
    """What a platform reports about a driver (WLHY_JSY1001), shared by the driver and each platform's report."""

    name: Mapped[str] = mapped_column(String(30))
    vehicle_class: Mapped[str | None] = mapped_column(String(20))
    issuing_organizations: Mapped[str | None] = mapped_column(String(128))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    qualification_certificate: Mapped[str | None] = mapped_column(String(19))
    telephone: Mapped[str | None] = mapped_column(String(18))
    remark: Mapped[str | None] = mapped_column(String(256))


class Driver(_DriverFields, VersionedDocument, Base):
    """A driver, one row per ID number (``drivingLicense`` on the wire) however many platforms report them.

    As :class:`Vehicle`: ``operator_id`` is the first production platform that reported the driver, the other
    columns mirror its latest report; each platform's own report is a :class:`DriverReport`.
    """

    __tablename__ = "driver"

    id: Mapped[int] = pk_col()
    driving_license: Mapped[str] = mapped_column(String(18), unique=True)
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"), index=True)
    created_at: Mapped[dt.datetime] = first_seen_col()


class DriverReport(_DriverFields, VersionedDocument, Base):
    """One platform's report of one driver (history in ``document_version``, kind ``driver``, ``document_id`` =
    this row's id); natural key (operator, ID number, sandbox). Production reports link the :class:`Driver`."""

    __tablename__ = "driver_report"
    __table_args__ = (
        Index("uq_driver_report_key", "operator_id", "driving_license", "is_sandbox", unique=True),
        Index("ix_driver_report_driver", "driver_id"),
        CheckConstraint("is_sandbox = (driver_id IS NULL)", name="sandbox_unlinked"),
    )

    id: Mapped[int] = pk_col()
    driver_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("driver.id"))
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    driving_license: Mapped[str] = mapped_column(String(18))
    created_at: Mapped[dt.datetime] = first_seen_col()


class DocumentVersion(Base):
    """Every accepted version of every document; the current one has ``superseded_at`` NULL.

    ``document_id`` is the waybill's or fund flow's id, and for a vehicle or driver the id of the reporting
    platform's :class:`VehicleReport` / :class:`DriverReport` (each platform's versions are its own).
    """

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
