"""The anomaly ledger: the catalogue of spec/RULES.md §1 and the one writer of ``anomaly`` rows.

Intake, trajectories and supervision all record (and resolve) anomalies through this module."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, Text, case, delete, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.models import Anomaly

__all__ = ["ANOMALY_TYPES", "GROUPS", "PENDING", "AnomalyType", "mark_pending", "mark_pending_many", "record",
           "record_many", "resolve", "resolve_many", "set_appeal_status"]

# group code -> (Chinese name of seed §2(二)3, English)
GROUPS: dict[str, tuple[str, str]] = {
    "INTAKE": ("单据接入异常", "document intake"),
    "QUAL": ("资质异常", "qualification"),
    "NETWORK": ("车辆入网异常", "vehicle not in network"),
    "TRACK": ("运输轨迹异常", "trajectory"),
    "MATCH": ("运单与资金流水单匹配异常", "waybill / fund-flow matching"),
    "DUPLICATE": ("运单重复", "duplicate waybill"),
}


@dataclass(frozen=True)
class AnomalyType:
    """One rule of the catalogue."""

    code: str
    group: str
    name_zh: str
    name_en: str


_ROWS = [
    ("INTAKE_REJECTED", "INTAKE", "单据被拒收", "message rejected"),
    ("INTAKE_LATE", "INTAKE", "单据上传不及时", "document uploaded late"),
    ("INTAKE_TIME_ORDER", "INTAKE", "单据时间逻辑错误", "document times out of order"),
    ("SEC_WEAK_ENVELOPE", "INTAKE", "数字信封强度不足", "weak SM2 envelope"),
    ("INTAKE_UNKNOWN_PARTY", "INTAKE", "运单车辆或驾驶员未上报", "vehicle or driver never reported"),
    ("QUAL_OPERATOR_PERMIT", "QUAL", "经营许可证无效", "operator licence not valid"),
    ("QUAL_VEHICLE_CERT", "QUAL", "车辆道路运输证无效", "vehicle road-transport certificate not valid"),
    ("QUAL_DRIVER_CERT", "QUAL", "驾驶员从业资格证无效", "driver qualification certificate not valid"),
    ("QUAL_DRIVER_LICENSE", "QUAL", "驾驶证无效或准驾车型不符", "driving licence expired or class not allowed"),
    ("QUAL_ID_CHECKSUM", "QUAL", "证件号码校验位错误", "ID / credit code checksum fails"),
    ("VEHICLE_NOT_IN_NETWORK", "NETWORK", "重型货车未入网", "heavy vehicle not in the national platform"),
    ("TRACK_MISSING", "TRACK", "无轨迹", "no track"),
    ("TRACK_START_MISMATCH", "TRACK", "起点与装货地不符", "start does not match the loading place"),
    ("TRACK_END_MISMATCH", "TRACK", "终点与卸货地不符", "end does not match the unloading place"),
    ("TRACK_LOW_COVERAGE", "TRACK", "轨迹覆盖率低", "low track coverage"),
    ("TRACK_IMPOSSIBLE_SPEED", "TRACK", "轨迹速度异常", "impossible speed"),
    ("TRACK_LENGTH_IMPLAUSIBLE", "TRACK", "轨迹里程异常", "implausible track length"),
    ("TRACK_DUPLICATED", "TRACK", "轨迹重复", "duplicated track"),
    ("TRACK_SOURCE_CONFLICT", "TRACK", "APP与北斗轨迹冲突", "app and BeiDou tracks conflict"),
    ("TRACK_VEHICLE_OVERLAP", "TRACK", "同车运单时间重叠", "one vehicle on overlapping waybills"),
    ("MATCH_NO_FUND_FLOW", "MATCH", "运单无资金流水", "no fund flow for the waybill"),
    ("MATCH_AMOUNT", "MATCH", "金额不一致", "amounts differ"),
    ("MATCH_PARTY", "MATCH", "承运方或车辆不一致", "carrier or vehicle differs"),
    ("MATCH_CASH_OR_REUSED_SERIAL", "MATCH", "现金支付或流水号重复使用", "cash payment or reused bank serial"),
    ("DUPLICATE_WAYBILL", "DUPLICATE", "运单重复", "duplicate waybill"),
]

ANOMALY_TYPES: dict[str, AnomalyType] = {r[0]: AnomalyType(*r) for r in _ROWS}



def _catalogued(code: str) -> AnomalyType:
    """The catalogue entry of ``code``; ValueError for a code spec/RULES.md §1 does not have."""
    kind = ANOMALY_TYPES.get(code)
    if kind is None:
        raise ValueError(f"unknown anomaly code {code!r}; known: {sorted(ANOMALY_TYPES)}")
    return kind


def record(
    session: Session,
    code: str,
    *,
    document_kind: str,
    document_key: str,
    operator_id: int | None,
    reason_zh: str,
    reason_en: str,
    document_id: int | None = None,
    severity: str = "warning",
    evidence: dict[str, Any] | None = None,
) -> int:
    """Write (or refresh) the anomaly ``code`` on one document; returns its id.

    Raises
    ------
    ValueError
        If ``code`` is not in the catalogue of spec/RULES.md §1.
    """
    return record_many(session, [dict(
        code=code, document_kind=document_kind, document_key=document_key, operator_id=operator_id,
        reason_zh=reason_zh, reason_en=reason_en, document_id=document_id, severity=severity, evidence=evidence)])[0]


def record_many(session: Session, anomalies: list[dict[str, Any]]) -> list[int]:
    """:func:`record` for many anomalies with one statement (a verification batch's fired rules); each dict has
    ``record``'s keyword arguments and ``code``. Returns their ids in the same order.

    The same (code, document) twice in ``anomalies`` is written twice, in order, as repeated :func:`record`
    calls would (one statement cannot touch a row twice).
    """
    rows = []
    for a in anomalies:
        kind = _catalogued(a["code"])
        rows.append(dict(
            code=a["code"], group_code=kind.group, severity=a.get("severity", "warning"),
            operator_id=a.get("operator_id"), document_kind=a["document_kind"], document_id=a.get("document_id"),
            document_key=a["document_key"], reason_zh=a["reason_zh"], reason_en=a["reason_en"],
            evidence=a.get("evidence"),
        ))
    ids: list[int] = [0] * len(rows)
    todo = list(range(len(rows)))
    while todo:
        batch, seen, later = [], set(), []
        for k in todo:
            key = (rows[k]["code"], rows[k]["document_kind"], rows[k]["document_key"])
            (later if key in seen else batch).append(k)
            seen.add(key)
        stmt = insert(Anomaly).values([rows[k] for k in batch])
        stmt = stmt.on_conflict_do_update(
            index_elements=["code", "document_kind", "document_key"],
            set_={k: stmt.excluded[k] for k in ("document_id", "reason_zh", "reason_en", "evidence", "severity")},
        ).returning(Anomaly.id, Anomaly.code, Anomaly.document_kind, Anomaly.document_key)
        got = {(c, kind, key): i for i, c, kind, key in session.execute(stmt).all()}
        for k in batch:
            ids[k] = got[(rows[k]["code"], rows[k]["document_kind"], rows[k]["document_key"])]
        todo = later
    return ids


def resolve(
    session: Session,
    *,
    document_kind: str,
    document_key: str,
    codes: Iterable[str],
    still_firing: Iterable[str],
) -> None:
    """Bring one document's anomalies in line with a re-run of the rules that own ``codes``.

    Open anomalies whose code is in ``codes`` but not in ``still_firing`` are resolved (kept, with
    ``resolved_at``: the ledger is history, nothing is deleted); resolved ones whose code is in
    ``still_firing`` are re-opened. Codes of other rules on the same document are left alone, so each
    checker passes only the codes it owns. Call it after :func:`record` for the codes that fired.

    Parameters
    ----------
    session : Session
    document_kind, document_key : str
        The document, as :func:`record` wrote it.
    codes : iterable of str
        Every code the caller's rules can raise on this document.
    still_firing : iterable of str
        The codes that fired this time.
    """
    resolve_many(session, document_kind=document_kind, codes=codes, still_firing={document_key: still_firing})


def resolve_many(
    session: Session,
    *,
    document_kind: str,
    codes: Iterable[str],
    still_firing: dict[str, Iterable[str]],
) -> None:
    """:func:`resolve` for many documents of one kind with a few statements in all: ``still_firing`` maps each
    document key to the codes that fired on it this time."""
    codes = list(codes)
    stale_keys, stale_codes, firing_keys, firing_codes = [], [], [], []
    for key, fired in still_firing.items():
        firing = set(fired)
        for c in codes:
            if c not in firing:
                stale_keys.append(key)
                stale_codes.append(c)
        for c in sorted(firing):
            firing_keys.append(key)
            firing_codes.append(c)
    if stale_keys:
        session.execute(
            update(Anomaly)
            .where(Anomaly.document_kind == document_kind, _pairs(stale_keys, stale_codes), Anomaly.status == "open")
            .values(status="resolved", resolved_at=dt.datetime.now(dt.UTC))
        )
    if firing_keys:
        session.execute(
            update(Anomaly)
            .where(Anomaly.document_kind == document_kind, _pairs(firing_keys, firing_codes),
                   Anomaly.status.in_(("resolved", PENDING)))
            .values(status="open", resolved_at=None)
        )
    if stale_keys:
        _settle_pending(session, document_kind, stale_keys, stale_codes)


def _pairs(keys: list[str], codes: list[str]):
    """``(document_key, code)`` is one of the pairs ``zip(keys, codes)``."""
    pairs = select(func.unnest(literal(keys, ARRAY(Text))).label("k"),
                   func.unnest(literal(codes, ARRAY(Text))).label("c")).subquery()
    return tuple_(Anomaly.document_key, Anomaly.code).in_(select(pairs.c.k, pairs.c.c))


#: Status of a rule that could not be decided yet (an outside registry was down): "not checked yet".
PENDING = "pending_check"


def mark_pending(
    session: Session,
    code: str,
    *,
    document_kind: str,
    document_key: str,
    operator_id: int | None,
    reason_zh: str,
    reason_en: str,
    document_id: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> bool:
    """Mark ``code`` on one document as not checked yet (status ``pending_check``); returns whether it did.

    An anomaly already decided and standing (open, appealed, upheld, overturned) is left as it is: its last
    decision holds until the rule can run again. A resolved one becomes pending and remembers its resolution, so
    that :func:`resolve` puts it back when the retry finds the rule still not firing; a pending marker that was
    never an anomaly is removed then. :func:`record` + :func:`resolve` turn a pending marker into an open anomaly.
    """
    return mark_pending_many(session, [dict(
        code=code, document_kind=document_kind, document_key=document_key, operator_id=operator_id,
        reason_zh=reason_zh, reason_en=reason_en, document_id=document_id, evidence=evidence)]) == 1


def mark_pending_many(session: Session, markers: list[dict[str, Any]]) -> int:
    """:func:`mark_pending` for many (code, document) pairs in one statement (a batch the registry could not
    answer for); each marker has ``mark_pending``'s keyword arguments and ``code``. Returns how many were marked."""
    rows = []
    for m in markers:
        kind = _catalogued(m["code"])
        rows.append(dict(code=m["code"], group_code=kind.group, severity="info", operator_id=m.get("operator_id"),
                         document_kind=m["document_kind"], document_id=m.get("document_id"),
                         document_key=m["document_key"], status=PENDING, reason_zh=m["reason_zh"],
                         reason_en=m["reason_en"], evidence=m.get("evidence") or {}))
    if not rows:
        return 0
    stmt = insert(Anomaly).values(rows)
    previous = case(
        (Anomaly.status == "resolved", func.jsonb_build_object(
            "previous", func.jsonb_build_object("reason_zh", Anomaly.reason_zh, "reason_en", Anomaly.reason_en,
                                                "evidence", Anomaly.evidence, "severity", Anomaly.severity))),
        (Anomaly.evidence.has_key("previous"),
         func.jsonb_build_object("previous", Anomaly.evidence["previous"])),
        else_=literal({}, Anomaly.evidence.type),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["code", "document_kind", "document_key"],
        set_={"status": PENDING, "reason_zh": stmt.excluded.reason_zh, "reason_en": stmt.excluded.reason_en,
              "document_id": stmt.excluded.document_id, "severity": "info",
              "evidence": stmt.excluded.evidence.op("||")(previous)},
        where=Anomaly.status.in_(("resolved", PENDING)),
    ).returning(Anomaly.id)
    return len(session.execute(stmt).scalars().all())


def _settle_pending(session: Session, document_kind: str, keys: list[str], codes: list[str]) -> None:
    """The rule ran and did not fire on these (document key, code) pairs: a pending marker that was a resolved
    anomaly is resolved again (its earlier reasons back), one that never was an anomaly goes."""
    where = (Anomaly.document_kind == document_kind, _pairs(keys, codes), Anomaly.status == PENDING)
    prev = Anomaly.evidence["previous"]
    session.execute(
        update(Anomaly).where(*where, Anomaly.resolved_at.is_not(None), Anomaly.evidence.has_key("previous"))
        .values(status="resolved", reason_zh=prev["reason_zh"].astext, reason_en=prev["reason_en"].astext,
                severity=func.coalesce(prev["severity"].astext, "warning"), evidence=prev["evidence"])
    )
    session.execute(delete(Anomaly).where(*where))


#: What an appeal does to its anomaly: filed → ``appealed``; decided → ``upheld`` or ``overturned`` (resolved_at set:
#: it no longer counts in indicators and alarm rates); withdrawn / not decided → back to ``open``.
APPEAL_STATUSES = ("appealed", "upheld", "overturned", "open")


def set_appeal_status(session: Session, anomaly_id: int, status: str) -> None:
    """Set an anomaly's status from its appeal (supervision.appeals): ``appealed``, ``upheld``, ``overturned`` or
    ``open``. Re-runs of the rule keep it (``resolve`` touches only ``open`` and ``resolved`` rows)."""
    if status not in APPEAL_STATUSES:
        raise ValueError(f"appeal status must be one of {APPEAL_STATUSES}, got {status!r}")
    session.execute(
        update(Anomaly).where(Anomaly.id == anomaly_id)
        .values(status=status, resolved_at=dt.datetime.now(dt.UTC) if status == "overturned" else None)
    )
