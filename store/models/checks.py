"""Checks: trajectories, verifications, anomalies, alarms and their workflows, and the job queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, created_at_col, pk_col

__all__ = [
    "ALARM_STATUSES",
    "ANOMALY_STATUSES",
    "VERDICTS",
    "Alarm",
    "AlarmEvent",
    "Anomaly",
    "Appeal",
    "Job",
    "Rectification",
    "RegistryAnswer",
    "Trajectory",
    "Verification",
]

VERDICTS = ("PASS", "SUSPECT", "FAIL", "NO_DATA")
ANOMALY_STATUSES = ("open", "appealed", "upheld", "overturned", "resolved", "pending_check")
ALARM_STATUSES = ("OPEN", "ACKNOWLEDGED", "RECTIFICATION_SUBMITTED", "ACCEPTED", "REJECTED", "CLOSED")


class Trajectory(Base):
    """A waybill vehicle item's trajectory from one source: LINESTRING M (M = epoch seconds) and its statistics."""

    __tablename__ = "trajectory"
    __table_args__ = (
        Index("uq_trajectory_item_source", "waybill_vehicle_id", "source", unique=True),
        Index("ix_trajectory_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = pk_col()
    waybill_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("waybill.id", ondelete="CASCADE"), index=True)
    waybill_vehicle_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("waybill_vehicle.id", ondelete="CASCADE"))
    source: Mapped[int] = mapped_column(SmallInteger)
    geom = mapped_column(Geometry("LINESTRINGM", srid=4326, spatial_index=False))  # STORAGE EXTERNAL (0016)
    n_fixes: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    length_m: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    max_gap_s: Mapped[float | None] = mapped_column(Float)
    max_speed_kmh: Mapped[float | None] = mapped_column(Float)
    h3_path: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    built_at: Mapped[dt.datetime] = created_at_col()


class Verification(Base):
    """A route-verification verdict with every fired rule, the numbers compared and GeoJSON evidence."""

    __tablename__ = "verification"
    __table_args__ = (CheckConstraint("verdict IN ('PASS','SUSPECT','FAIL','NO_DATA')", name="verdict"),)

    id: Mapped[int] = pk_col()
    waybill_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("waybill.id", ondelete="CASCADE"), index=True)
    waybill_vehicle_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("waybill_vehicle.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(8))
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    verified_at: Mapped[dt.datetime] = created_at_col()
    current: Mapped[bool] = mapped_column(default=True)


class Anomaly(Base):
    """A rule hit on a document (spec/RULES.md §1), with reasons in Chinese and English and its evidence."""

    __tablename__ = "anomaly"
    __table_args__ = (
        Index("uq_anomaly_document", "code", "document_kind", "document_key", unique=True),
        Index("ix_anomaly_operator_detected", "operator_id", "detected_at"),
        Index("ix_anomaly_group", "group_code"),
        Index("ix_anomaly_document_id", "document_kind", "document_id"),  # migration 0012 (indicators)
        Index("ix_anomaly_detected", "detected_at"),  # migration 0015: the list's default sort
        CheckConstraint("status IN ('open','appealed','upheld','overturned','resolved','pending_check')",
                        name="status"),
    )

    id: Mapped[int] = pk_col()
    code: Mapped[str] = mapped_column(String(40))
    group_code: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(8), default="warning")
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"))
    document_kind: Mapped[str] = mapped_column(String(16))
    document_id: Mapped[int | None] = mapped_column(BigInteger)
    document_key: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = created_at_col()
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    reason_zh: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    resolved_at: Mapped[dt.datetime | None]


class Alarm(Base):
    """An operator × anomaly group whose rate crossed a threshold; assigned to the operator's county."""

    __tablename__ = "alarm"
    __table_args__ = (
        Index("ix_alarm_operator_group", "operator_id", "group_code"),
        # One alarm per operator × group while it is not CLOSED (operator-independent alarms count as operator 0).
        Index("uq_alarm_open", text("coalesce(operator_id, 0)"), "group_code", unique=True,
              postgresql_where=text("status <> 'CLOSED'")),
        CheckConstraint(
            "status IN ('OPEN','ACKNOWLEDGED','RECTIFICATION_SUBMITTED','ACCEPTED','REJECTED','CLOSED')", name="status"
        ),
        CheckConstraint("kind IN ('rate','dead_letter')", name="kind"),
        CheckConstraint("kind <> 'rate' OR operator_id IS NOT NULL", name="operator_set"),
    )

    id: Mapped[int] = pk_col()
    # rate: an operator × anomaly group over its threshold; dead_letter: the Ministry forwarder gave up (province)
    kind: Mapped[str] = mapped_column(String(16), default="rate", server_default="rate")
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("operator.id"))
    group_code: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(8))
    rate: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    division_code: Mapped[str | None] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(24), default="OPEN", server_default="OPEN")
    raised_at: Mapped[dt.datetime] = created_at_col()
    closed_at: Mapped[dt.datetime | None]
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    acknowledged_at: Mapped[dt.datetime | None]
    due_at: Mapped[dt.datetime | None]  # rectification due
    overdue_at: Mapped[dt.datetime | None]  # escalated for being overdue
    updated_at: Mapped[dt.datetime] = created_at_col()


class AlarmEvent(Base):
    """One transition of an alarm: who, when, text and attachments."""

    __tablename__ = "alarm_event"

    id: Mapped[int] = pk_col()
    alarm_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("alarm.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = created_at_col()
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    text: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)


class Appeal(Base):
    """An operator's appeal against a QUAL_* anomaly; decided by re-comparison with the registry by day 30."""

    __tablename__ = "appeal"
    __table_args__ = (
        Index("uq_appeal_pending", "anomaly_id", unique=True, postgresql_where=text("status = 'pending'")),
        Index("ix_appeal_due", "status", "due_at"),
    )

    id: Mapped[int] = pk_col()
    anomaly_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("anomaly.id"), index=True)
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operator.id"))
    statement: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[dt.datetime] = created_at_col()
    filed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    due_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    outcome: Mapped[str | None] = mapped_column(String(16))
    comparisons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    decided_at: Mapped[dt.datetime | None]
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # registry look-ups that failed
    last_error: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))


class Rectification(Base):
    """An operator's rectification report for an alarm and the supervisor's review."""

    __tablename__ = "rectification"

    id: Mapped[int] = pk_col()
    alarm_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("alarm.id", ondelete="CASCADE"), index=True)
    submitted_at: Mapped[dt.datetime] = created_at_col()
    submitted_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    text: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    review_status: Mapped[str | None] = mapped_column(String(16))
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    reviewed_at: Mapped[dt.datetime | None]
    review_text: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    """A unit of background work, taken with ``FOR UPDATE SKIP LOCKED`` (no extra broker)."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_due", "status", "run_after"),
        Index("uq_job_pending_key", "kind", "key", unique=True, postgresql_where="status = 'pending'"),
    )

    id: Mapped[int] = pk_col()
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    run_after: Mapped[dt.datetime] = created_at_col()
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_col()


class RegistryAnswer(Base):
    """What the 运政 registry or the national platform answered about one key on one Beijing day (migration 0009).

    The registry rules (supervision.rules.qualifications) ask each licence, certificate and plate once a day, not
    once per waybill; ``found`` false caches "no such record"; an outage is never cached.
    """

    __tablename__ = "registry_answer"

    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    found: Mapped[bool] = mapped_column(Boolean)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    fetched_at: Mapped[dt.datetime] = created_at_col()


class TrackSignature(Base):
    """One H3 res-8 cell a verified item's app track crosses, with the mean time there (migration 0011).

    The worker looks a new track's cells up here (index on cell × hour bucket) to find copies of recent tracks,
    shifted copies included (trajectories.signatures).
    """

    __tablename__ = "track_signature"
    __table_args__ = (Index("ix_track_signature_cell_bucket", "cell", "bucket"),)

    waybill_vehicle_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("waybill_vehicle.id", ondelete="CASCADE"), primary_key=True)
    cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer)
    t_s: Mapped[float] = mapped_column(Float)
