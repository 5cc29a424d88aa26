"""Appeals (D4): an operator appeals a ``QUAL_*`` anomaly of its own; the registry (运政) decides.

The qualification is re-compared with the registry when the appeal is filed and again, at the latest, when it is
due (configuration ``appeal_due_days`` after the anomaly's detection, 30 by default). If the registry now
confirms validity on the document's date (the waybill's despatch day, Beijing) the anomaly is ``overturned`` (it
stops counting: the ranking triggers of migration 0012 mark the operator's days for recomputation), otherwise it
is ``upheld``. A comparison that finds the document still not valid before the due date leaves the appeal pending
(the operator may still fix it at the registry); at the due date that answer is final.

The periodic tick (:func:`decide_due`, supervision.alarms.jobs) decides every pending appeal whose due date is
near or past — after an outage it catches up on the first run. When the registry is down at the deadline the
appeal stays pending, ``attempts`` and ``last_error`` say why, and :func:`past_due` reports it until decided.

``QUAL_DRIVER_LICENSE`` (the driving licence is not the 运政 registry's) and ``QUAL_ID_CHECKSUM`` (arithmetic) have
nothing to re-compare: their appeals are upheld at the due date unless the document was corrected meanwhile (the
rule then resolves the anomaly and the appeal is overturned).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from auth import audit
from auth.scope import Scope
from core.beijing import BEIJING
from core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from etl.adapters.errors import AdapterError
from etl.adapters.yunzheng import YunzhengClient
from store.anomalies import ANOMALY_TYPES, set_appeal_status
from store.models import Anomaly, Appeal, Waybill
from store.paging import Page, narrow, order, page
from supervision import configuration
from supervision.alarms import attachments as files

__all__ = ["DecideResult", "as_dict", "compare", "decide_due", "file_appeal", "get", "list_appeals", "past_due"]

#: Pending appeals due within this margin are decided by the tick (so day 30 is never missed by a slow tick).
DECIDE_MARGIN = dt.timedelta(hours=12)
REGISTRY_CODES = ("QUAL_OPERATOR_PERMIT", "QUAL_VEHICLE_CERT", "QUAL_DRIVER_CERT")
OUTCOME_ZH = {"overturned": "申诉成立，异常撤销", "upheld": "申诉不成立，维持异常"}


class RegistryUnavailable(Exception):
    """The 运政 registry could not answer: nothing decided."""


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


_ITEMS = text("""
SELECT wv.seq, wv.vehicle_number, wv.plate_color,
       coalesce(vr.road_transport_certificate_number, v.road_transport_certificate_number) AS certificate,
       coalesce(vr.gross_mass_t, v.gross_mass_t) AS gross_mass_t
FROM waybill_vehicle wv JOIN waybill w ON w.id = wv.waybill_id
LEFT JOIN vehicle v ON v.id = wv.vehicle_id
LEFT JOIN vehicle_report vr ON vr.vehicle_id = wv.vehicle_id AND vr.operator_id = w.operator_id
WHERE wv.waybill_id = :w ORDER BY wv.seq
""")

_DRIVERS = text("""
SELECT wd.driving_license, coalesce(dr.qualification_certificate, d.qualification_certificate) AS certificate
FROM waybill_driver wd JOIN waybill_vehicle wv ON wv.id = wd.waybill_vehicle_id JOIN waybill w ON w.id = wv.waybill_id
LEFT JOIN driver d ON d.id = wd.driver_id
LEFT JOIN driver_report dr ON dr.driver_id = wd.driver_id AND dr.operator_id = w.operator_id
WHERE wv.waybill_id = :w ORDER BY wv.seq, wd.id
""")

_PLACEHOLDER_SUFFIX = "000000"


def _ask(fn, *args):
    try:
        return fn(*args)
    except AdapterError as e:
        raise RegistryUnavailable(f"运政 registry unavailable: {type(e).__name__}") from None


def _check(label: str, rec, day: dt.date, **match) -> dict[str, Any]:
    if rec is None:
        return {"item": label, "found": False, "validOnDay": False}
    mismatched = [k for k, v in match.items() if v is not None and getattr(rec, k, v) != v]
    return {"item": label, "found": True, "number": rec.number, "status": rec.status,
            "validFrom": rec.valid_from.isoformat() if rec.valid_from else None,
            "validTo": rec.valid_to.isoformat() if rec.valid_to else None,
            "holderMatches": not mismatched, "validOnDay": rec.is_valid_on(day) and not mismatched}


def compare(db_session: Session, anomaly: Anomaly, yunzheng: YunzhengClient) -> dict[str, Any]:
    """Ask the registry again about what ``anomaly`` found missing or invalid.

    Returns
    -------
    dict
        ``{"confirmed": bool | None, "day": ISO date, "checks": [...]}``; ``confirmed`` None when the code has
        nothing the registry could confirm.

    Raises
    ------
    RegistryUnavailable
        The registry could not answer.
    """
    waybill = db_session.get(Waybill, anomaly.document_id) if anomaly.document_kind == "waybill" else None
    if anomaly.code not in REGISTRY_CODES or waybill is None:
        return {"confirmed": None, "checks": [], "note": "nothing to re-compare with the 运政 registry"}
    day = waybill.despatch_at.astimezone(BEIJING).date()
    checks: list[dict[str, Any]] = []
    if anomaly.code == "QUAL_OPERATOR_PERMIT":
        rec = _ask(yunzheng.get_operator_licence, waybill.permit_number)
        checks.append(_check(f"permit {waybill.permit_number}", rec, day, usci=waybill.usci))
    elif anomaly.code == "QUAL_VEHICLE_CERT":
        for it in db_session.execute(_ITEMS, {"w": waybill.id}):
            if it.gross_mass_t is not None and float(it.gross_mass_t) <= 4.5:
                continue  # light vehicles need no certificate
            number = it.certificate or ""
            if number and not number.endswith(_PLACEHOLDER_SUFFIX):
                rec = _ask(yunzheng.get_vehicle_certificate, number)
            else:
                rec = _ask(yunzheng.get_vehicle_certificate_by_plate, it.vehicle_number, it.plate_color)
            checks.append(_check(f"vehicle {it.vehicle_number}", rec, day, vehicle_number=it.vehicle_number))
    else:  # QUAL_DRIVER_CERT
        for d in db_session.execute(_DRIVERS, {"w": waybill.id}):
            rec = (_ask(yunzheng.get_driver_certificate, d.certificate) if d.certificate
                   else _ask(yunzheng.get_driver_certificate_by_id, d.driving_license))
            c = _check(f"driver {d.driving_license[:4]}…{d.driving_license[-4:]}", rec, day,
                       id_number=d.driving_license)
            checks.append(c)
    return {"confirmed": bool(checks) and all(c["validOnDay"] for c in checks), "day": day.isoformat(),
            "checks": checks}


def _decide(db_session: Session, appeal: Appeal, anomaly: Anomaly, outcome: str, by: str,
            now: dt.datetime) -> None:
    appeal.status, appeal.outcome, appeal.decided_at, appeal.decided_by = "decided", outcome, now, by
    set_appeal_status(db_session, anomaly.id, outcome)
    audit.record(db_session, "appeal_decide", username="system", role="system", target=f"appeal:{appeal.id}",
                 detail={"anomalyId": anomaly.id, "code": anomaly.code, "outcome": outcome, "by": by})


def _run(db_session: Session, appeal: Appeal, anomaly: Anomaly, yunzheng: YunzhengClient | None, *,
         final: bool, stage: str, now: dt.datetime) -> str:
    """One comparison; returns ``overturned``, ``upheld``, ``pending`` or ``unavailable``."""
    if anomaly.status == "resolved":  # the document was corrected meanwhile: nothing left to uphold
        appeal.comparisons = [*(appeal.comparisons or []), {"at": now.isoformat(), "stage": stage,
                                                             "confirmed": True, "note": "anomaly resolved"}]
        _decide(db_session, appeal, anomaly, "overturned", stage, now)
        return "overturned"
    try:
        if yunzheng is None:
            raise RegistryUnavailable("no 运政 client configured")
        result = compare(db_session, anomaly, yunzheng)
    except RegistryUnavailable as e:
        appeal.attempts = (appeal.attempts or 0) + 1
        appeal.last_error = str(e)[:500]
        appeal.comparisons = [*(appeal.comparisons or []), {"at": now.isoformat(), "stage": stage,
                                                             "error": str(e)[:200]}]
        return "unavailable"
    appeal.comparisons = [*(appeal.comparisons or []), {"at": now.isoformat(), "stage": stage, **result}]
    appeal.last_error = None
    if result["confirmed"]:
        _decide(db_session, appeal, anomaly, "overturned", stage, now)
        return "overturned"
    if final:
        _decide(db_session, appeal, anomaly, "upheld", stage, now)
        return "upheld"
    return "pending"


def file_appeal(*, db_session: Session, scope: Scope, anomaly_id: int, statement: str,
                uploads: list[files.Upload] | None = None, yunzheng: YunzhengClient | None = None,
                ip: str | None = None, now: dt.datetime | None = None) -> Appeal:
    """File an operator's appeal and compare with the registry right away. The caller commits.

    Raises
    ------
    ForbiddenError
        Not an operator's user.
    NotFoundError
        Unknown anomaly or another operator's.
    InvalidInputError
        Not a ``QUAL_*`` anomaly, empty statement, attachments refused.
    ConflictError
        The anomaly is already under appeal or was decided (overturned / upheld / resolved).
    """
    now = _now(now)
    try:
        if scope.operator_id is None:
            raise ForbiddenError(f"only an operator appeals its anomalies (由平台企业提出申诉), not role {scope.role!r}")
        anomaly = db_session.scalars(select(Anomaly).where(Anomaly.id == anomaly_id,
                                                           scope.operator_filter(Anomaly.operator_id))
                                     .with_for_update()).one_or_none()
        if anomaly is None:
            raise NotFoundError(f"no anomaly {anomaly_id}")
        if not anomaly.code.startswith("QUAL_"):
            raise InvalidInputError(f"only qualification anomalies (QUAL_*) can be appealed; {anomaly.code} cannot "
                                    f"(仅资质异常可申诉)")
        if not (statement or "").strip():
            raise InvalidInputError("an appeal needs a statement (请填写申诉理由)")
        if anomaly.status != "open":
            raise ConflictError(f"anomaly {anomaly.id} is {anomaly.status}: only an open anomaly can be appealed "
                                f"(该异常已申诉或已处理)")
        checked = files.validate(uploads) if uploads else []  # too large / wrong type: refused and audited
    except (ForbiddenError, NotFoundError, InvalidInputError, ConflictError) as e:
        # kept on record (committed on its own) before the route answers the error
        audit.refused(db_session, "appeal_file", e, scope=scope, target=f"anomaly:{anomaly_id}", ip=ip)
        raise
    meta = files.store_all(uploads, checked) if uploads else []
    due = anomaly.detected_at + dt.timedelta(days=int(configuration.get(db_session, "appeal_due_days")))
    appeal = Appeal(anomaly_id=anomaly.id, operator_id=scope.operator_id, statement=statement.strip(), filed_at=now,
                    filed_by=scope.user_id, due_at=due, status="pending", attachments=meta or None, comparisons=[])
    db_session.add(appeal)
    db_session.flush()
    set_appeal_status(db_session, anomaly.id, "appealed")
    audit.record(db_session, "appeal_file", scope=scope, target=f"appeal:{appeal.id}", ip=ip,
                 detail={"anomalyId": anomaly.id, "code": anomaly.code,
                         "attachments": [m["digest"] for m in meta]})
    _run(db_session, appeal, anomaly, yunzheng, final=due <= now, stage="filing", now=now)
    db_session.flush()
    return appeal


@dataclass
class DecideResult:
    """What one pass of :func:`decide_due` did (appeal ids)."""

    overturned: list[int] = field(default_factory=list)
    upheld: list[int] = field(default_factory=list)
    unavailable: list[int] = field(default_factory=list)
    rechecked: list[int] = field(default_factory=list)


def decide_due(db_session: Session, yunzheng: YunzhengClient | None, *, now: dt.datetime | None = None,
               recheck_every: dt.timedelta = dt.timedelta(days=1)) -> DecideResult:
    """Decide every pending appeal due by now (+ :data:`DECIDE_MARGIN`); re-compare the others once a day.

    Appeals past due (the tick did not run: an outage) are decided on the first run after it. With the registry
    down they stay pending and are retried on the next run. The caller commits.
    """
    now = _now(now)
    out = DecideResult()
    pending = db_session.scalars(select(Appeal).where(Appeal.status == "pending").order_by(Appeal.due_at)
                                 .with_for_update(skip_locked=True)).all()
    for appeal in pending:
        final = appeal.due_at <= now + DECIDE_MARGIN
        last = max((dt.datetime.fromisoformat(c["at"]) for c in appeal.comparisons or [] if "at" in c), default=None)
        if not final and last is not None and now - last < recheck_every:
            continue
        anomaly = db_session.get(Anomaly, appeal.anomaly_id)
        r = _run(db_session, appeal, anomaly, yunzheng, final=final, stage="due" if final else "recheck", now=now)
        {"overturned": out.overturned, "upheld": out.upheld, "unavailable": out.unavailable,
         "pending": out.rechecked}[r].append(appeal.id)
    db_session.flush()
    return out


def past_due(db_session: Session, *, now: dt.datetime | None = None) -> list[Appeal]:
    """Pending appeals whose due date has passed: empty whenever the tick runs and the registry answers."""
    now = _now(now)
    return list(db_session.scalars(select(Appeal).where(Appeal.status == "pending", Appeal.due_at < now)
                                   .order_by(Appeal.due_at)))


SORTS = {"filedAt": Appeal.filed_at, "dueAt": Appeal.due_at, "status": Appeal.status, "id": Appeal.id}


def _visible(scope: Scope):
    scope.require_documents()
    return scope.operator_filter(Appeal.operator_id)


def list_appeals(*, db_session: Session, scope: Scope, status: str | None = None, outcome: str | None = None,
                 operator_id: int | None = None, sort: str = "-filedAt", limit: int = 100,
                 offset: int = 0) -> Page[Appeal]:
    """One page of the appeals ``scope`` sees (an operator its own; regulators their operators'; analysts none)."""
    q = narrow(select(Appeal).where(_visible(scope)),
               {Appeal.status: status, Appeal.outcome: outcome, Appeal.operator_id: operator_id})
    return page(db_session, q, order_by=order(SORTS, sort, Appeal.id), limit=limit, offset=offset)


def get(*, db_session: Session, scope: Scope, appeal_id: int) -> Appeal:
    """One appeal.

    Raises
    ------
    NotFoundError
        Unknown or out of scope (alike).
    """
    a = db_session.scalars(select(Appeal).where(Appeal.id == appeal_id, _visible(scope))).one_or_none()
    if a is None:
        raise NotFoundError(f"no appeal {appeal_id}")
    return a


def attachment(*, db_session: Session, scope: Scope, appeal_id: int, digest: str) -> tuple[dict[str, Any], bytes]:
    """An attachment of an appeal ``scope`` sees (another operator's: not found)."""
    a = get(db_session=db_session, scope=scope, appeal_id=appeal_id)
    for m in a.attachments or []:
        if m.get("digest") == digest:
            return m, files.load(digest)
    raise NotFoundError(f"appeal {appeal_id} has no attachment {digest[:16]}…")


def as_dict(a: Appeal, db_session: Session, *, detail: bool = False) -> dict[str, Any]:
    """The wire shape (camelCase) of an appeal, with its anomaly's code and names."""
    anomaly = db_session.get(Anomaly, a.anomaly_id)
    kind = ANOMALY_TYPES.get(anomaly.code) if anomaly else None
    out = {"id": a.id, "anomalyId": a.anomaly_id, "code": anomaly.code if anomaly else None,
           "nameZh": kind.name_zh if kind else None, "nameEn": kind.name_en if kind else None,
           "operatorId": a.operator_id, "statement": a.statement, "filedAt": a.filed_at, "dueAt": a.due_at,
           "status": a.status, "outcome": a.outcome, "outcomeZh": OUTCOME_ZH.get(a.outcome or ""),
           "decidedAt": a.decided_at, "attempts": a.attempts, "lastError": a.last_error,
           "anomalyStatus": anomaly.status if anomaly else None}
    if detail:
        out["comparisons"] = a.comparisons or []
        out["attachments"] = a.attachments or []
    return out
