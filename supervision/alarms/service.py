"""Alarms (D3) and their follow-up (D5): raised from anomaly rates and the forwarder's dead letters, read within a
Scope, moved through their lifecycle by the operator and its supervising regulator.

**Rate.** Per operator × anomaly group over the rolling window (configuration ``alarm_window_days``):

- INTAKE (单据接入异常): documents with an active INTAKE anomaly detected in the window ÷ messages the operator sent
  in the window (production, not replays) — every upload is a chance to be late, rejected or weakly enveloped;
- every other group: waybills received in the window that carry an active anomaly of the group ÷ waybills
  received in the window.

Active anomalies are ``open``, ``appealed`` or ``upheld`` (not ``overturned`` or ``resolved``). After an alarm of
the group was CLOSED the window starts at its closing, so the documents it already covered do not raise it again;
fewer than :data:`MIN_DOCUMENTS` documents raise nothing (one bad waybill of two is not a rate). The evidence of
each alarm carries the numbers.

**Dead letters.** Outbox rows the Ministry forwarder gave up (``status = 'dead'``) raise one operator-independent
``dead_letter`` alarm for the province staff (``division_code`` the province's); further dead rows while it is open
are added to it (an event each time).

**Lifecycle** (spec/RULES.md §4): OPEN → ACKNOWLEDGED → RECTIFICATION_SUBMITTED → ACCEPTED → CLOSED, or
RECTIFICATION_SUBMITTED → REJECTED → (acknowledged again) ACKNOWLEDGED. The operator acknowledges and submits;
the regulator whose division holds the alarm accepts, rejects and closes. A dead-letter alarm is acknowledged and
closed by the province staff. Each transition is an ``alarm_event`` and an audit row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, text, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from auth import audit
from auth.scope import NOWHERE, Scope
from core.config import get_settings
from core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from store.anomalies import GROUPS
from store.models import Alarm, AlarmEvent, Operator, Outbox, Rectification
from store.paging import Page, narrow, order, page
from supervision import configuration
from supervision.alarms import attachments as files

__all__ = [
    "ACTIONS",
    "DEAD_LETTER_GROUP",
    "MIN_DOCUMENTS",
    "AlarmFilter",
    "Evaluation",
    "as_dict",
    "escalate_overdue",
    "evaluate",
    "events",
    "get",
    "list_alarms",
    "raise_dead_letters",
    "rates",
    "rectifications",
    "rectifications_of",
    "transition",
    "unacknowledged",
]

#: Fewer documents than this in the window raise no alarm: a rate over a handful of documents is noise.
MIN_DOCUMENTS = 20
#: group_code of the forwarder's dead-letter alarm (not an anomaly group).
DEAD_LETTER_GROUP = "DEAD_LETTER"
ACTIVE_ANOMALY = ("open", "appealed", "upheld")
LEVEL_ZH = {"warning": "预警", "severe": "严重"}
STATUS_ZH = {"OPEN": "待确认", "ACKNOWLEDGED": "已确认", "RECTIFICATION_SUBMITTED": "已提交整改",
             "ACCEPTED": "整改通过", "REJECTED": "整改驳回", "CLOSED": "已关闭"}
REGULATORS = frozenset({"county", "city", "province"})

#: action -> (statuses it leaves, status it reaches, who: "operator" | "regulator")
ACTIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "acknowledge": (frozenset({"OPEN", "REJECTED"}), "ACKNOWLEDGED", "operator"),
    "submit_rectification": (frozenset({"ACKNOWLEDGED"}), "RECTIFICATION_SUBMITTED", "operator"),
    "accept": (frozenset({"RECTIFICATION_SUBMITTED"}), "ACCEPTED", "regulator"),
    "reject": (frozenset({"RECTIFICATION_SUBMITTED"}), "REJECTED", "regulator"),
    "close": (frozenset({"ACCEPTED"}), "CLOSED", "regulator"),
}
#: A dead-letter alarm has no operator and no rectification: the province staff acknowledge it and close it.
DEAD_LETTER_ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"OPEN"}), "ACKNOWLEDGED"),
    "close": (frozenset({"ACKNOWLEDGED"}), "CLOSED"),
}
ALIASES = {"submit": "submit_rectification", "ack": "acknowledge"}


def _now(now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    return now


# ---- rates and raising -------------------------------------------------------------------------------------------

_WAYBILL_RATES = text("""
WITH g AS (SELECT unnest(CAST(:groups AS text[])) AS group_code),
closed AS (SELECT operator_id, group_code, max(closed_at) AS closed_at FROM alarm
           WHERE kind = 'rate' AND status = 'CLOSED' GROUP BY operator_id, group_code),
w AS (SELECT id, operator_id, received_at FROM waybill
      WHERE NOT is_sandbox AND received_at >= :since AND received_at < :now),
f AS (SELECT DISTINCT document_id, group_code FROM anomaly
      WHERE document_kind = 'waybill' AND status = ANY(CAST(:active AS text[]))
        AND group_code = ANY(CAST(:groups AS text[])))
SELECT w.operator_id, g.group_code, count(*) AS documents, count(f.document_id) AS flagged
FROM w CROSS JOIN g
LEFT JOIN closed c ON c.operator_id = w.operator_id AND c.group_code = g.group_code
LEFT JOIN f ON f.document_id = w.id AND f.group_code = g.group_code
WHERE c.closed_at IS NULL OR w.received_at > c.closed_at
GROUP BY w.operator_id, g.group_code
""")

_INTAKE_RATES = text("""
WITH closed AS (SELECT operator_id, max(closed_at) AS closed_at FROM alarm
                WHERE kind = 'rate' AND status = 'CLOSED' AND group_code = 'INTAKE' GROUP BY operator_id),
m AS (SELECT m.operator_id, count(*) AS documents FROM message m LEFT JOIN closed c USING (operator_id)
      WHERE m.operator_id IS NOT NULL AND NOT m.is_sandbox AND m.duplicate_of IS NULL
        AND m.received_at >= :since AND m.received_at < :now AND (c.closed_at IS NULL OR m.received_at > c.closed_at)
      GROUP BY m.operator_id),
a AS (SELECT a.operator_id, count(DISTINCT (a.document_kind, a.document_id)) AS flagged
      FROM anomaly a LEFT JOIN closed c USING (operator_id)
      WHERE a.group_code = 'INTAKE' AND a.status = ANY(CAST(:active AS text[])) AND a.operator_id IS NOT NULL
        AND a.detected_at >= :since AND a.detected_at < :now AND (c.closed_at IS NULL OR a.detected_at > c.closed_at)
      GROUP BY a.operator_id)
SELECT m.operator_id, 'INTAKE' AS group_code, m.documents, least(coalesce(a.flagged, 0), m.documents) AS flagged
FROM m LEFT JOIN a USING (operator_id)
""")

DENOMINATORS = {"INTAKE": ("报文", "messages sent")}
_WAYBILLS = ("运单", "waybills received")


@dataclass(frozen=True)
class Rate:
    """One operator × group in the window: flagged documents of all, and the thresholds it is compared with."""

    operator_id: int
    group: str
    flagged: int
    documents: int
    warning: float
    severe: float

    @property
    def rate(self) -> float:
        return self.flagged / self.documents if self.documents else 0.0

    @property
    def level(self) -> str | None:
        if self.documents < MIN_DOCUMENTS:
            return None
        if self.rate >= self.severe:
            return "severe"
        return "warning" if self.rate >= self.warning else None


def rates(db_session: Session, *, now: dt.datetime | None = None, operator_id: int | None = None) -> list[Rate]:
    """Every operator × group rate over the configured window ending at ``now`` (groups without documents omitted)."""
    now = _now(now)
    thresholds = configuration.get(db_session, "alarm_thresholds")
    since = now - dt.timedelta(days=int(configuration.get(db_session, "alarm_window_days")))
    groups = [g for g in GROUPS if g != "INTAKE"]
    params = {"since": since, "now": now, "active": list(ACTIVE_ANOMALY), "groups": groups}
    rows = list(db_session.execute(_WAYBILL_RATES, params)) + list(db_session.execute(_INTAKE_RATES, params))
    out = []
    for r in rows:
        if operator_id is not None and r.operator_id != operator_id:
            continue
        t = thresholds.get(r.group_code) or {"warning": 0.05, "severe": 0.15}
        out.append(Rate(int(r.operator_id), r.group_code, int(r.flagged), int(r.documents), float(t["warning"]),
                        float(t["severe"])))
    return sorted(out, key=lambda x: (x.operator_id, x.group))


@dataclass
class Evaluation:
    """What one evaluation did (alarm ids)."""

    raised: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    refreshed: int = 0
    checked: int = 0


def _event(db_session: Session, alarm: Alarm, action: str, to_status: str, *, from_status: str | None,
           user_id: int | None = None, text_: str | None = None, attachments: list | None = None) -> AlarmEvent:
    ev = AlarmEvent(alarm_id=alarm.id, action=action, from_status=from_status, to_status=to_status,
                    user_id=user_id, text=text_, attachments=attachments or None)
    db_session.add(ev)
    return ev


def _division(op: Operator | None) -> str:
    code = (op.division_code if op is not None else None) or ""
    return code if len(code) == 6 else get_settings().province_code


def evaluate(db_session: Session, *, now: dt.datetime | None = None, operator_id: int | None = None) -> Evaluation:
    """Compare every operator × group rate with its thresholds: raise one alarm on crossing, escalate warning →
    severe, refresh the numbers of alarms already open. The caller commits.

    Returns
    -------
    Evaluation
        Ids raised and escalated, how many open alarms were refreshed, how many rates were checked.
    """
    now = _now(now)
    window = int(configuration.get(db_session, "alarm_window_days"))
    due_days = int(configuration.get(db_session, "rectification_due_days"))
    version = configuration.current(db_session).version
    out = Evaluation()
    # every open alarm at once, locked: a concurrent evaluator waits rather than escalating the same alarm twice
    q = select(Alarm).where(Alarm.kind == "rate", Alarm.status != "CLOSED")
    if operator_id is not None:
        q = q.where(Alarm.operator_id == operator_id)
    open_alarms = {(a.operator_id, a.group_code): a for a in db_session.scalars(q.with_for_update())}
    for r in rates(db_session, now=now, operator_id=operator_id):
        out.checked += 1
        open_alarm = open_alarms.get((r.operator_id, r.group))
        evidence = {**_evidence_of(r, window, now), "configurationVersion": version}
        if open_alarm is not None:
            # the numbers it was raised (or escalated) on stay; the latest ones sit beside them
            open_alarm.evidence = {**(open_alarm.evidence or {}), "current": evidence}
            open_alarm.updated_at = now
            out.refreshed += 1
            if r.level == "severe" and open_alarm.level == "warning":
                open_alarm.level, open_alarm.rate, open_alarm.threshold = "severe", r.rate, r.severe
                open_alarm.evidence = {**open_alarm.evidence, **evidence}
                _event(db_session, open_alarm, "escalate", open_alarm.status, from_status=open_alarm.status,
                       text_=f"升级为严重：{_numbers_zh(r, window)} / escalated to severe: {_numbers_en(r, window)}")
                audit.record(db_session, "alarm_escalate", username="system", role="system",
                             target=f"alarm:{open_alarm.id}", detail={"rate": r.rate, "threshold": r.severe})
                out.escalated.append(open_alarm.id)
            continue
        level = r.level
        if level is None:
            continue
        op = db_session.get(Operator, r.operator_id)
        threshold = r.severe if level == "severe" else r.warning
        new_id = db_session.execute(
            insert(Alarm).values(kind="rate", operator_id=r.operator_id, group_code=r.group, level=level,
                                 rate=r.rate, threshold=threshold, division_code=_division(op), status="OPEN",
                                 raised_at=now, updated_at=now, due_at=now + dt.timedelta(days=due_days),
                                 evidence=evidence)
            .on_conflict_do_nothing()  # uq_alarm_open: another evaluator raised it first
            .returning(Alarm.id)
        ).scalar_one_or_none()
        if new_id is None:
            continue
        alarm = db_session.get(Alarm, new_id)
        _event(db_session, alarm, "raise", "OPEN", from_status=None,
               text_=f"{_numbers_zh(r, window)} / {_numbers_en(r, window)}")
        audit.record(db_session, "alarm_raise", username="system", role="system", target=f"alarm:{new_id}",
                     detail={"operatorId": r.operator_id, "group": r.group, "level": level, "rate": r.rate,
                             "flagged": r.flagged, "documents": r.documents})
        out.raised.append(new_id)
    db_session.flush()
    return out


def _evidence_of(r: Rate, window_days: int, now: dt.datetime) -> dict[str, Any]:
    zh, en = DENOMINATORS.get(r.group, _WAYBILLS)
    return {"flagged": r.flagged, "documents": r.documents, "rate": round(r.rate, 6), "windowDays": window_days,
            "until": now.isoformat(), "denominatorZh": zh, "denominatorEn": en,
            "thresholds": {"warning": r.warning, "severe": r.severe}}


def _numbers_zh(r: Rate, window: int) -> str:
    zh = DENOMINATORS.get(r.group, _WAYBILLS)[0]
    return f"近{window}天{GROUPS[r.group][0]}率 {r.rate:.1%}（{r.flagged}/{r.documents} 份{zh}）"


def _numbers_en(r: Rate, window: int) -> str:
    en = DENOMINATORS.get(r.group, _WAYBILLS)[1]
    return f"{GROUPS[r.group][1]} rate {r.rate:.1%} over {window} days ({r.flagged} of {r.documents} {en})"


def raise_dead_letters(db_session: Session, *, now: dt.datetime | None = None) -> int | None:
    """Raise (or extend) the province's dead-letter alarm with outbox rows given up since the last look.

    Returns
    -------
    int or None
        The alarm's id when new dead rows were found, else None.
    """
    now = _now(now)
    seen = db_session.scalar(
        select(func.max(Alarm.evidence["lastOutboxId"].as_integer())).where(Alarm.kind == "dead_letter")) or 0
    dead = db_session.execute(
        select(Outbox.id, Outbox.ipc_type, Outbox.document_kind, Outbox.document_id, Outbox.attempts,
               Outbox.last_error).where(Outbox.status == "dead", Outbox.id > seen).order_by(Outbox.id)).all()
    if not dead:
        return None
    rows = [{"outboxId": d.id, "ipcType": d.ipc_type, "documentKind": d.document_kind, "documentId": d.document_id,
             "attempts": d.attempts, "lastError": (d.last_error or "")[:200]} for d in dead]
    alarm = db_session.scalars(select(Alarm).where(Alarm.kind == "dead_letter", Alarm.status != "CLOSED")
                               .with_for_update()).one_or_none()
    if alarm is None:
        new_id = db_session.execute(
            insert(Alarm).values(kind="dead_letter", operator_id=None, group_code=DEAD_LETTER_GROUP, level="severe",
                                 rate=float(len(rows)), threshold=1.0, division_code=get_settings().province_code,
                                 status="OPEN", raised_at=now, updated_at=now,
                                 evidence={"count": len(rows), "lastOutboxId": rows[-1]["outboxId"],
                                           "rows": rows[:200]})
            .on_conflict_do_nothing().returning(Alarm.id)).scalar_one_or_none()
        if new_id is None:
            return None
        alarm = db_session.get(Alarm, new_id)
        action = "raise"
        from_status = None
    else:
        ev = dict(alarm.evidence or {})
        ev["count"] = int(ev.get("count", 0)) + len(rows)
        ev["lastOutboxId"] = rows[-1]["outboxId"]
        ev["rows"] = (list(ev.get("rows", [])) + rows)[-200:]
        alarm.evidence, alarm.rate, alarm.updated_at = ev, float(ev["count"]), now
        action, from_status = "dead_letters", alarm.status
    _event(db_session, alarm, action, alarm.status, from_status=from_status,
           text_=f"{len(rows)} 条单据转发部级平台失败（已放弃重试） / {len(rows)} documents could not be forwarded "
                 f"to the Ministry (given up)")
    audit.record(db_session, "alarm_dead_letter", username="system", role="system", target=f"alarm:{alarm.id}",
                 detail={"outboxIds": [r["outboxId"] for r in rows][:50], "count": len(rows)})
    db_session.flush()
    return alarm.id


def escalate_overdue(db_session: Session, *, now: dt.datetime | None = None) -> list[int]:
    """Alarms whose rectification is overdue (not submitted by ``due_at``): level severe, an ``overdue`` event,
    once per due date. The caller commits."""
    now = _now(now)
    due = db_session.scalars(
        select(Alarm).where(Alarm.kind == "rate", Alarm.status.in_(("OPEN", "ACKNOWLEDGED", "REJECTED")),
                            Alarm.due_at < now, Alarm.overdue_at.is_(None)).with_for_update(skip_locked=True)).all()
    for a in due:
        before = a.level
        a.level, a.overdue_at, a.updated_at = "severe", now, now
        _event(db_session, a, "overdue", a.status, from_status=a.status,
               text_=f"整改逾期（应于 {a.due_at:%Y-%m-%d} 前提交），级别 {LEVEL_ZH[before]} → 严重 / rectification "
                     f"overdue (due {a.due_at:%Y-%m-%d}), level {before} → severe")
        audit.record(db_session, "alarm_overdue", username="system", role="system", target=f"alarm:{a.id}",
                     detail={"dueAt": a.due_at.isoformat(), "levelBefore": before})
    db_session.flush()
    return [a.id for a in due]


# ---- reading -----------------------------------------------------------------------------------------------------

SORTS = {"raisedAt": Alarm.raised_at, "rate": Alarm.rate, "level": Alarm.level, "status": Alarm.status,
         "operatorId": Alarm.operator_id, "id": Alarm.id}


@dataclass(frozen=True)
class AlarmFilter:
    status: str | None = None
    group: str | None = None
    level: str | None = None
    operator_id: int | None = None
    kind: str | None = None
    division: str | None = None
    open_only: bool = False


def visible(scope: Scope) -> ColumnElement[bool]:
    """What alarms ``scope`` sees: an operator its own, a regulator those assigned in its division (county its
    county, city and province everything below them), admin all; analysts none (refused before)."""
    scope.require_documents()
    if scope.operator_id is not None:
        return Alarm.operator_id == scope.operator_id
    if scope.division_prefix == NOWHERE:
        return false()
    if not scope.division_prefix:
        return true()
    return Alarm.division_code.like(f"{scope.division_prefix}%")


def list_alarms(*, db_session: Session, scope: Scope, filters: AlarmFilter = AlarmFilter(), sort: str = "-raisedAt",
                limit: int = 100, offset: int = 0) -> Page[Alarm]:
    """One page of the alarms ``scope`` may see.

    Raises
    ------
    ScopeError
        For an analyst.
    """
    q = narrow(select(Alarm).where(visible(scope)),
               {Alarm.status: filters.status, Alarm.group_code: filters.group, Alarm.level: filters.level,
                Alarm.operator_id: filters.operator_id, Alarm.kind: filters.kind},
               prefix={Alarm.division_code: filters.division})
    if filters.open_only:
        q = q.where(Alarm.status != "CLOSED")
    return page(db_session, q, order_by=order(SORTS, sort, Alarm.id), limit=limit, offset=offset)


def get(*, db_session: Session, scope: Scope, alarm_id: int, lock: bool = False) -> Alarm:
    """One alarm.

    Raises
    ------
    NotFoundError
        Unknown or out of scope (alike).
    """
    q = select(Alarm).where(Alarm.id == alarm_id, visible(scope))
    alarm = db_session.scalars(q.with_for_update() if lock else q).one_or_none()
    if alarm is None:
        raise NotFoundError(f"no alarm {alarm_id}")
    return alarm


def events(db_session: Session, alarm_id: int) -> list[AlarmEvent]:
    return list(db_session.scalars(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id)
                                   .order_by(AlarmEvent.at, AlarmEvent.id)))


def rectifications(db_session: Session, alarm_id: int) -> list[Rectification]:
    """One alarm's rectifications in submission order."""
    return rectifications_of(db_session, [alarm_id])[alarm_id]


def rectifications_of(db_session: Session, alarm_ids: list[int]) -> dict[int, list[Rectification]]:
    """Each alarm's rectifications in submission order, for many alarms in one query (a page of alarms)."""
    out: dict[int, list[Rectification]] = {i: [] for i in alarm_ids}
    if alarm_ids:
        for r in db_session.scalars(select(Rectification).where(Rectification.alarm_id.in_(list(alarm_ids)))
                                    .order_by(Rectification.alarm_id, Rectification.id)):
            out[r.alarm_id].append(r)
    return out


def unacknowledged(db_session: Session, operator_id: int) -> list[dict[str, Any]]:
    """The operator's alarms waiting for its acknowledgement (OPEN, or REJECTED rectifications): shown at login."""
    rows = db_session.scalars(select(Alarm).where(Alarm.operator_id == operator_id,
                                                  Alarm.status.in_(("OPEN", "REJECTED")))
                              .order_by(Alarm.raised_at.desc(), Alarm.id.desc())).all()
    return [{k: v for k, v in as_dict(a).items()
             if k in ("id", "group", "groupZh", "level", "rate", "status", "raisedAt", "textZh", "textEn")}
            for a in rows]


def texts(a: Alarm) -> tuple[str, str]:
    """The alarm in one sentence, Chinese and English."""
    ev = a.evidence or {}
    if a.kind == "dead_letter":
        n = int(ev.get("count", a.rate))
        return (f"{n} 条单据转发部级平台失败（已放弃重试），请排查后重新转发",
                f"{n} documents could not be forwarded to the Ministry (given up): investigate and re-send")
    g_zh, g_en = GROUPS.get(a.group_code, (a.group_code, a.group_code))
    d_zh, d_en = DENOMINATORS.get(a.group_code, _WAYBILLS)
    window = ev.get("windowDays", 30)
    nums_zh = f"（{ev.get('flagged')}/{ev.get('documents')} 份{d_zh}）" if "documents" in ev else ""
    nums_en = f" ({ev.get('flagged')} of {ev.get('documents')} {d_en})" if "documents" in ev else ""
    zh = (f"{g_zh}{LEVEL_ZH.get(a.level, a.level)}：近{window}天异常率 {a.rate:.1%}{nums_zh}，"
          f"超过阈值 {a.threshold:.0%}，请确认并提交整改")
    en = (f"{g_en} {a.level} alarm: rate {a.rate:.1%} over {window} days{nums_en} crossed {a.threshold:.0%}; "
          f"acknowledge and submit a rectification")
    return zh, en


def as_dict(a: Alarm, *, detail: bool = False, db_session: Session | None = None) -> dict[str, Any]:
    """The wire shape of an alarm (camelCase); with ``detail``, its evidence, events and rectifications."""
    zh, en = texts(a)
    g = GROUPS.get(a.group_code, ("转发失败", "forwarding dead letters"))
    out: dict[str, Any] = {
        "id": a.id, "kind": a.kind, "operatorId": a.operator_id, "group": a.group_code, "groupZh": g[0],
        "groupEn": g[1], "level": a.level, "levelZh": LEVEL_ZH.get(a.level, a.level), "rate": round(a.rate, 6),
        "threshold": a.threshold, "status": a.status, "statusZh": STATUS_ZH.get(a.status, a.status),
        "divisionCode": a.division_code, "raisedAt": a.raised_at, "acknowledgedAt": a.acknowledged_at,
        "dueAt": a.due_at, "overdueAt": a.overdue_at, "closedAt": a.closed_at, "textZh": zh, "textEn": en,
    }
    if detail and db_session is not None:
        out["evidence"] = a.evidence
        out["events"] = [{"id": e.id, "at": e.at, "userId": e.user_id, "action": e.action, "fromStatus": e.from_status,
                          "toStatus": e.to_status, "text": e.text, "attachments": e.attachments or []}
                         for e in events(db_session, a.id)]
        out["rectifications"] = [{"id": r.id, "submittedAt": r.submitted_at, "submittedBy": r.submitted_by,
                                  "text": r.text, "attachments": r.attachments or [], "reviewStatus": r.review_status,
                                  "reviewedBy": r.reviewed_by, "reviewedAt": r.reviewed_at,
                                  "reviewText": r.review_text} for r in rectifications(db_session, a.id)]
    return out


# ---- the lifecycle -----------------------------------------------------------------------------------------------

def _allowed(scope: Scope, alarm: Alarm, action: str) -> tuple[frozenset[str], str]:
    if alarm.kind == "dead_letter":
        if scope.role not in ("province", "admin"):
            raise ForbiddenError(f"role {scope.role!r} may not {action} a dead-letter alarm; the province staff "
                                 f"handle it (转发失败报警由省级人员处理)")
        if action not in DEAD_LETTER_ACTIONS:
            raise ConflictError(f"a dead-letter alarm is only acknowledged and closed; {action!r} does not apply")
        return DEAD_LETTER_ACTIONS[action]
    sources, target, who = ACTIONS[action]
    if who == "operator" and scope.operator_id is None:
        raise ForbiddenError(f"only the operator may {action} its alarm (由平台企业操作), not role {scope.role!r}")
    if who == "regulator" and scope.role not in REGULATORS:
        raise ForbiddenError(f"only the supervising regulator may {action} (由属地监管部门审核), not role "
                             f"{scope.role!r}")
    return sources, target


def transition(*, db_session: Session, scope: Scope, alarm_id: int, action: str, text: str | None = None,
               uploads: list[files.Upload] | None = None, ip: str | None = None,
               now: dt.datetime | None = None) -> Alarm:
    """Move an alarm one step of its lifecycle; an event and an audit row. The caller commits.

    Parameters
    ----------
    action : str
        ``acknowledge``, ``submit_rectification`` (``submit``), ``accept``, ``reject`` or ``close``.
    text : str, optional
        Required for ``submit_rectification`` and ``reject`` (what was done / why not enough).
    uploads : list of Upload, optional
        Attachments (``submit_rectification`` only): count, size and content checked, stored with their SM3 digest.

    Raises
    ------
    NotFoundError
        Unknown or out-of-scope alarm.
    ForbiddenError
        The role may not take this action (analysts, an operator accepting, a regulator acknowledging …).
    ConflictError
        The action does not apply in the alarm's status (e.g. accepting an OPEN alarm).
    InvalidInputError
        Unknown action, missing text, attachments refused.
    """
    now = _now(now)
    action = ALIASES.get(action, action)
    alarm = get(db_session=db_session, scope=scope, alarm_id=alarm_id, lock=True)
    try:
        if action not in ACTIONS:  # refused on record too (but only for an alarm this user may see)
            raise InvalidInputError(f"action must be one of {sorted(ACTIONS)}, got {action!r}")
        sources, target = _allowed(scope, alarm, action)
        if alarm.status not in sources:
            raise ConflictError(
                f"alarm {alarm.id} is {alarm.status} ({STATUS_ZH.get(alarm.status)}); {action!r} applies only to "
                f"{' / '.join(sorted(sources))} (当前状态不允许此操作)")
        if action in ("submit_rectification", "reject") and not (text or "").strip():
            raise InvalidInputError(f"{action} needs a text (请填写说明)")
        if uploads and action != "submit_rectification":
            raise InvalidInputError("attachments go with submit_rectification only")
        checked = files.validate(uploads) if uploads else []  # too large / wrong type: refused and audited
    except (ForbiddenError, ConflictError, InvalidInputError) as e:
        # kept on record (committed on its own) before the route answers the error
        known = action in ACTIONS  # a made-up action is not made into an audit action name
        audit.refused(db_session, f"alarm_{action}" if known else "alarm_event", e, scope=scope,
                      target=f"alarm:{alarm.id}", ip=ip,
                      detail={"status": alarm.status, **({} if known else {"action": action[:32]})})
        raise
    meta = files.store_all(uploads, checked) if uploads else []
    before = alarm.status
    alarm.status, alarm.updated_at = target, now
    if action == "acknowledge" and alarm.acknowledged_at is None:
        alarm.acknowledged_at = now
    if action == "submit_rectification":
        db_session.add(Rectification(alarm_id=alarm.id, submitted_at=now, submitted_by=scope.user_id, text=text,
                                     attachments=meta or None))
    if action in ("accept", "reject"):
        rect = db_session.scalars(select(Rectification).where(Rectification.alarm_id == alarm.id)
                                  .order_by(Rectification.id.desc()).limit(1)).one_or_none()
        if rect is not None:
            rect.review_status = "accepted" if action == "accept" else "rejected"
            rect.reviewed_by, rect.reviewed_at, rect.review_text = scope.user_id, now, text
    if action == "reject":
        # a new round: the operator has the full period again, and may be overdue again
        alarm.due_at = now + dt.timedelta(days=int(configuration.get(db_session, "rectification_due_days")))
        alarm.overdue_at = None
    if action == "close":
        alarm.closed_at = now
    _event(db_session, alarm, action, target, from_status=before, user_id=scope.user_id, text_=text,
           attachments=meta)
    audit.record(db_session, f"alarm_{action}", scope=scope, target=f"alarm:{alarm.id}", ip=ip,
                 detail={"from": before, "to": target, "attachments": [m["digest"] for m in meta]})
    db_session.flush()
    return alarm


def attachment(*, db_session: Session, scope: Scope, alarm_id: int, digest: str) -> tuple[dict[str, Any], bytes]:
    """An attachment of an alarm ``scope`` sees: its metadata and bytes (another operator's alarm: not found).

    Raises
    ------
    NotFoundError
        Alarm out of scope, or the digest is not one of its attachments.
    """
    alarm = get(db_session=db_session, scope=scope, alarm_id=alarm_id)
    for r in rectifications(db_session, alarm.id):
        for m in r.attachments or []:
            if m.get("digest") == digest:
                return m, files.load(digest)
    raise NotFoundError(f"alarm {alarm_id} has no attachment {digest[:16]}…")
