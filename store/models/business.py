"""Business data: waybills (with vehicles, drivers, goods), fund flows (with waybills, payments), positions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from geoalchemy2 import Geometry
from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, Money, VersionedDocument, first_seen_col, pk_col

__all__ = [
    "FundFlow",
    "FundFlowPayment",
    "FundFlowWaybill",
    "Position",
    "Waybill",
    "WaybillDriver",
    "WaybillGoods",
    "WaybillVehicle",
]

# position.source: 1 = the platform's driver app (WLHY_WZ1001), 2 = BeiDou track from the national platform.
# position.operator_id: the reporting platform of an app fix; 0 for BeiDou (the national platform's, no operator's).


def _point() -> Geometry:
    return Geometry("POINT", srid=4326, spatial_index=False)


class Waybill(VersionedDocument, Base):
    """An electronic waybill (WLHY_YD1001); natural key (operator, shippingNoteNumber, serialNumber, sandbox).

    Another platform's waybill with the same numbers is another row; a sandbox (joint-test) waybill never
    replaces or is replaced by the production one.
    """

    __tablename__ = "waybill"
    __table_args__ = (
        Index("uq_waybill_key", "operator_id", "shipping_note_number", "serial_number", "is_sandbox", unique=True),
        Index("ix_waybill_despatch", "despatch_at"),
        Index("ix_waybill_receipt", "receipt_at"),
        Index("ix_waybill_loading_division", "loading_division_code"),
        Index("ix_waybill_receipt_division", "receipt_division_code"),
        Index("ix_waybill_shipping_note", "shipping_note_number"),
        Index("ix_waybill_operator_despatch", "operator_id", "is_sandbox", "despatch_at"),  # 0015: by operator
    )

    id: Mapped[int] = pk_col()
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    shipping_note_number: Mapped[str] = mapped_column(String(20))
    serial_number: Mapped[str] = mapped_column(String(4))
    original_document_number: Mapped[str] = mapped_column(String(35))
    vehicle_amount: Mapped[int] = mapped_column(Integer)
    transport_type_code: Mapped[str] = mapped_column(String(2))
    business_type_code: Mapped[str] = mapped_column(String(7))
    carrier: Mapped[str] = mapped_column(String(512))
    usci: Mapped[str] = mapped_column(String(18))
    permit_number: Mapped[str] = mapped_column(String(50))
    send_to_pro_at: Mapped[dt.datetime]
    consignment_at: Mapped[dt.datetime]
    despatch_at: Mapped[dt.datetime]
    receipt_at: Mapped[dt.datetime]
    total_amount: Mapped[Decimal] = mapped_column(Money)
    consignor: Mapped[str] = mapped_column(String(512))
    consignor_id: Mapped[str] = mapped_column(String(35))
    loading_place: Mapped[str | None] = mapped_column(String(256))
    loading_division_code: Mapped[str] = mapped_column(String(6))
    consignee: Mapped[str] = mapped_column(String(512))
    consignee_id: Mapped[str | None] = mapped_column(String(35))
    receipt_place: Mapped[str | None] = mapped_column(String(256))
    receipt_division_code: Mapped[str] = mapped_column(String(6))
    actual_carrier_name: Mapped[str] = mapped_column(String(256))
    actual_carrier_license: Mapped[str] = mapped_column(String(50))
    actual_carrier_id: Mapped[str] = mapped_column(String(50))
    policy_number: Mapped[str] = mapped_column(String(30))
    insurance_company_code: Mapped[str] = mapped_column(String(30))
    remark: Mapped[str | None] = mapped_column(String(256))
    total_weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(17, 3))
    straight_distance_m: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[dt.datetime] = first_seen_col()


class WaybillVehicle(Base):
    """One ``vehicleInfo`` item of a waybill: the vehicle, its own times and places (segmented waybills)."""

    __tablename__ = "waybill_vehicle"
    __table_args__ = (
        Index("uq_waybill_vehicle_seq", "waybill_id", "seq", unique=True),
        Index("ix_waybill_vehicle_plate", "vehicle_number", "plate_color"),
        Index("ix_waybill_vehicle_loading_geom", "loading_geom", postgresql_using="gist"),
        Index("ix_waybill_vehicle_receipt_geom", "receipt_geom", postgresql_using="gist"),
    )

    id: Mapped[int] = pk_col()
    waybill_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("waybill.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(SmallInteger)
    vehicle_number: Mapped[str] = mapped_column(String(35))
    plate_color: Mapped[str] = mapped_column(String(2))
    vehicle_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("vehicle.id"))
    despatch_at: Mapped[dt.datetime]  # the item's own time, else the waybill's
    receipt_at: Mapped[dt.datetime]
    loading_place: Mapped[str | None] = mapped_column(String(256))
    loading_division_code: Mapped[str] = mapped_column(String(6))
    receipt_place: Mapped[str | None] = mapped_column(String(256))
    receipt_division_code: Mapped[str] = mapped_column(String(6))
    # WGS-84 points: the platform's geocoded coordinates when given (converted), else the division's point.
    loading_geom = mapped_column(_point())
    receipt_geom = mapped_column(_point())
    places_from_coordinates: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    declared_coordinate_system: Mapped[str | None] = mapped_column(String(8))
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(17, 3))


class WaybillDriver(Base):
    """A driver named on a waybill vehicle item."""

    __tablename__ = "waybill_driver"
    __table_args__ = (Index("ix_waybill_driver_license", "driving_license"),)

    id: Mapped[int] = pk_col()
    waybill_vehicle_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("waybill_vehicle.id", ondelete="CASCADE"), index=True
    )
    driver_name: Mapped[str] = mapped_column(String(30))
    driving_license: Mapped[str] = mapped_column(String(18))
    driver_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("driver.id"))


class WaybillGoods(Base):
    """A goods line of a waybill vehicle item (weight in kg, volume in m³)."""

    __tablename__ = "waybill_goods"

    id: Mapped[int] = pk_col()
    waybill_vehicle_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("waybill_vehicle.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(String(512))
    cargo_type_code: Mapped[str] = mapped_column(String(4), index=True)
    weight_kg: Mapped[Decimal] = mapped_column(Numeric(17, 3))
    cube_m3: Mapped[Decimal | None] = mapped_column(Numeric(13, 4))
    packages: Mapped[int | None] = mapped_column(Integer)


class FundFlow(VersionedDocument, Base):
    """A fund-flow record (WLHY_ZJ1001); natural key (operator, documentNumber, sandbox)."""

    __tablename__ = "fund_flow"
    __table_args__ = (
        Index("uq_fund_flow_key", "operator_id", "document_number", "is_sandbox", unique=True),
        Index("ix_fund_flow_plate", "vehicle_number", "plate_color"),
        Index("ix_fund_flow_send_to_pro", "send_to_pro_at"),  # migration 0015: the list's default sort
        Index("ix_fund_flow_operator_send_to_pro", "operator_id", "is_sandbox", "send_to_pro_at"),  # 0015
    )

    id: Mapped[int] = pk_col()
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    document_number: Mapped[str] = mapped_column(String(35))
    send_to_pro_at: Mapped[dt.datetime]
    carrier: Mapped[str] = mapped_column(String(512))
    actual_carrier_id: Mapped[str] = mapped_column(String(50))
    vehicle_number: Mapped[str] = mapped_column(String(35))
    plate_color: Mapped[str] = mapped_column(String(2))
    remark: Mapped[str | None] = mapped_column(String(256))
    total_paid: Mapped[Decimal] = mapped_column(Money)
    last_paid_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = first_seen_col()


class FundFlowWaybill(Base):
    """A waybill a fund flow pays (``shippingNoteList`` item), linked to the waybill row once both exist."""

    __tablename__ = "fund_flow_waybill"
    __table_args__ = (Index("ix_fund_flow_waybill_note", "shipping_note_number", "serial_number"),)

    id: Mapped[int] = pk_col()
    fund_flow_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("fund_flow.id", ondelete="CASCADE"), index=True)
    shipping_note_number: Mapped[str] = mapped_column(String(20))
    serial_number: Mapped[str] = mapped_column(String(4))
    total_amount: Mapped[Decimal] = mapped_column(Money)
    waybill_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("waybill.id", ondelete="SET NULL"), index=True)


class FundFlowPayment(Base):
    """A payment line (``financiallist`` item)."""

    __tablename__ = "fund_flow_payment"
    __table_args__ = (Index("ix_fund_flow_payment_sequence", "sequence_code"),)

    id: Mapped[int] = pk_col()
    fund_flow_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("fund_flow.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(SmallInteger)
    payment_means_code: Mapped[str] = mapped_column(String(3))
    recipient: Mapped[str] = mapped_column(String(512))
    receipt_account: Mapped[str] = mapped_column(String(512))
    bank_code: Mapped[str | None] = mapped_column(String(11))
    sequence_code: Mapped[str] = mapped_column(String(50))
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_at: Mapped[dt.datetime]


class Position(Base):
    """One GPS fix, partitioned by Beijing day on ``t``; natural key (vehicle, source, reporting operator, t).

    ``operator_id`` is the platform that sent an app fix (source 1) and 0 for a BeiDou fix (source 2, from the
    national platform, nobody's), checked by ``ck_position_owner``: two platforms' fixes of one vehicle at one
    time are two rows, and a BeiDou fix is stored once. Sandbox (joint-test) fixes are never stored here.
    Partitions (``position_pYYYYMMDD``) are created on demand by ``store.positions.ensure_partitions``.
    Coordinates are WGS-84 whatever the platform declared (kept in ``declared_crs``).
    """

    __tablename__ = "position"
    __table_args__ = (
        PrimaryKeyConstraint("vehicle_number", "plate_color", "source", "operator_id", "t", name="pk_position"),
        CheckConstraint("(source = 2) = (operator_id = 0)", name="owner"),
        Index("ix_position_geom", "geom", postgresql_using="gist"),
        Index("ix_position_note", "shipping_note_number", postgresql_where="shipping_note_number IS NOT NULL"),
        {"postgresql_partition_by": "RANGE (t)"},
    )

    t: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    vehicle_number: Mapped[str] = mapped_column(String(35))
    plate_color: Mapped[str] = mapped_column(String(2))
    source: Mapped[int] = mapped_column(SmallInteger)
    geom = mapped_column(_point(), nullable=False)
    h3: Mapped[int] = mapped_column(BigInteger)  # resolution 9 cell, as signed bigint
    speed_kmh: Mapped[float | None] = mapped_column(REAL)
    direction: Mapped[float | None] = mapped_column(REAL)
    altitude_m: Mapped[float | None] = mapped_column(REAL)
    accuracy_m: Mapped[float | None] = mapped_column(REAL)
    driving_license: Mapped[str | None] = mapped_column(String(18))
    operator_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    shipping_note_number: Mapped[str | None] = mapped_column(String(20))
    serial_number: Mapped[str | None] = mapped_column(String(4))
    declared_crs: Mapped[int | None] = mapped_column(SmallInteger)  # index into geo.crs.SYSTEMS
    message_id: Mapped[int | None] = mapped_column(BigInteger)
