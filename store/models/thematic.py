"""Thematic data: indicators, scores, daily statistics, OD flows and H3 density roll-ups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, Money, created_at_col

__all__ = ["DensityDaily", "FreightTotals", "IndicatorValue", "OdFlow", "Score", "StatDaily", "StatDirty", "density_stage"]


class FreightTotals:
    """What a day's waybills carried, summed (the last columns of a statistics table): tonnes, tonne-km, yuan."""

    tonnes: Mapped[Decimal] = mapped_column(Numeric(18, 3))
    tonne_km: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    amount: Mapped[Decimal] = mapped_column(Money)


class IndicatorValue(Base):
    """One indicator (spec/RULES.md §3) of one operator over one period, 0–100, with its counts."""

    __tablename__ = "indicator_value"
    __table_args__ = (PrimaryKeyConstraint("operator_id", "period_start", "period_end", "indicator"),)

    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    indicator: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)  # NULL: no denominator (not applicable), never 100
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = created_at_col()
    config_version: Mapped[int] = mapped_column(Integer, server_default="0")  # migration 0012


class Score(Base):
    """Comprehensive score and rank of an operator for a period."""

    __tablename__ = "score"
    __table_args__ = (PrimaryKeyConstraint("operator_id", "period_start", "period_end"),
                      Index("ix_score_period", "period_start", "period_end"))

    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[float | None] = mapped_column(Float)  # NULL: no indicator applicable
    rank: Mapped[int | None] = mapped_column(Integer)
    rank_change: Mapped[int | None] = mapped_column(Integer)
    waybills: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = created_at_col()
    # migration 0012: the configuration that produced it, the change versus the previous period of equal length,
    # the indicators the weighted mean left out (no denominator)
    config_version: Mapped[int] = mapped_column(Integer, server_default="0")
    score_change: Mapped[float | None] = mapped_column(Float)
    previous_rank: Mapped[int | None] = mapped_column(Integer)
    skipped: Mapped[list[str] | None] = mapped_column(ARRAY(String(32)))


class RankDirty(Base):
    """An operator × Beijing day whose indicators are stale (migration 0012 triggers; the ranking job takes it).
    Appended, never updated: one row per operator × day per writing transaction (``tx``), so writers lock nothing."""

    __tablename__ = "rank_dirty"
    __table_args__ = (Index("ix_rank_dirty_operator_day", "operator_id", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    operator_id: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[dt.date] = mapped_column(Date)
    tx: Mapped[int] = mapped_column(BigInteger, server_default=text("txid_current()"))
    marked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("clock_timestamp()"))


class StatDaily(FreightTotals, Base):
    """Business scale per operator × loading division × cargo type × Beijing day."""

    __tablename__ = "stat_daily"
    __table_args__ = (PrimaryKeyConstraint("day", "operator_id", "division_code", "cargo_type_code"),
                      Index("ix_stat_daily_operator_day", "operator_id", "day"))

    day: Mapped[dt.date] = mapped_column(Date)
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    division_code: Mapped[str] = mapped_column(String(6))
    cargo_type_code: Mapped[str] = mapped_column(String(4))
    waybills: Mapped[int] = mapped_column(Integer)
    vehicles: Mapped[int] = mapped_column(Integer)
    # migration 0013: capacity, the estimated part of the tonne-km, the distinct keys behind the counts
    drivers: Mapped[int] = mapped_column(Integer, server_default="0")
    waybills_estimated: Mapped[int] = mapped_column(Integer, server_default="0")
    tonne_km_estimated: Mapped[Decimal] = mapped_column(Numeric(20, 3), server_default="0")
    vehicle_keys: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    driver_keys: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))


class OdFlow(FreightTotals, Base):
    """Origin–destination flow per day, by division pair (``level`` 'county'/'city') or H3 cell pair."""

    __tablename__ = "od_flow"
    __table_args__ = (PrimaryKeyConstraint("day", "level", "origin", "destination", "operator_id"),
                      Index("ix_od_flow_operator_day", "operator_id", "day"))

    day: Mapped[dt.date] = mapped_column(Date)
    level: Mapped[str] = mapped_column(String(8))  # 'county' (division codes) or 'h3r7' (decimal int64 cells)
    origin: Mapped[str] = mapped_column(String(20))
    destination: Mapped[str] = mapped_column(String(20))
    waybills: Mapped[int] = mapped_column(Integer)
    # migration 0013: per operator (operators read their own flows), vehicles and their keys, estimated tonne-km
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    vehicles: Mapped[int] = mapped_column(Integer, server_default="0")
    tonne_km_estimated: Mapped[Decimal] = mapped_column(Numeric(20, 3), server_default="0")
    vehicle_keys: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))


class DensityDaily(Base):
    """Fixes and distinct vehicles per H3 cell × resolution × source × Beijing day (density maps)."""

    __tablename__ = "density_daily"
    __table_args__ = (PrimaryKeyConstraint("day", "res", "source", "h3"),)

    day: Mapped[dt.date] = mapped_column(Date)
    res: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[int] = mapped_column(SmallInteger)
    h3: Mapped[int] = mapped_column(BigInteger)
    fixes: Mapped[int] = mapped_column(Integer)
    vehicles: Mapped[int] = mapped_column(Integer)
    # migration 0013: the distinct vehicle keys when fewer than 50 (the k-floor over several days stays exact)
    vehicle_keys: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))


class StatDirty(Base):
    """An operator × Beijing day whose statistics must be re-derived (filled by triggers, drained by a job)."""

    __tablename__ = "stat_dirty"
    __table_args__ = (Index("ix_stat_dirty_day", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)  # marks repeat: no unique key
    operator_id: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[dt.date] = mapped_column(Date)
    marked_at: Mapped[dt.datetime] = created_at_col()


#: The parallel density roll-up's scratch (migration 0013: UNLOGGED, keyless): each session scans a slice of a day
#: into it. A plain Table, not a mapped class, because it has no key; declared so the schema check covers it.
density_stage = Table(
    "density_stage", Base.metadata,
    Column("day", Date, nullable=False, index=True),
    Column("source", SmallInteger, nullable=False),
    Column("cell", BigInteger, nullable=False),
    Column("vkey", BigInteger, nullable=False),
    Column("n", BigInteger, nullable=False),
)
