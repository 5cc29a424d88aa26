"""Thematic data: indicators, scores, daily statistics, OD flows and H3 density roll-ups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, Money, created_at_col

__all__ = ["DensityDaily", "FreightTotals", "IndicatorValue", "OdFlow", "Score", "StatDaily"]


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
    value: Mapped[float] = mapped_column(Float)
    numerator: Mapped[float] = mapped_column(Float)
    denominator: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = created_at_col()


class Score(Base):
    """Comprehensive score and rank of an operator for a period."""

    __tablename__ = "score"
    __table_args__ = (PrimaryKeyConstraint("operator_id", "period_start", "period_end"),)

    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    rank_change: Mapped[int | None] = mapped_column(Integer)
    waybills: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = created_at_col()


class StatDaily(FreightTotals, Base):
    """Business scale per operator × loading division × cargo type × Beijing day."""

    __tablename__ = "stat_daily"
    __table_args__ = (PrimaryKeyConstraint("day", "operator_id", "division_code", "cargo_type_code"),)

    day: Mapped[dt.date] = mapped_column(Date)
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    division_code: Mapped[str] = mapped_column(String(6))
    cargo_type_code: Mapped[str] = mapped_column(String(4))
    waybills: Mapped[int] = mapped_column(Integer)
    vehicles: Mapped[int] = mapped_column(Integer)


class OdFlow(FreightTotals, Base):
    """Origin–destination flow per day, by division pair (``level`` 'county'/'city') or H3 cell pair."""

    __tablename__ = "od_flow"
    __table_args__ = (PrimaryKeyConstraint("day", "level", "origin", "destination"),)

    day: Mapped[dt.date] = mapped_column(Date)
    level: Mapped[str] = mapped_column(String(8))
    origin: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(16))
    waybills: Mapped[int] = mapped_column(Integer)


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
