"""Waybill rules of spec/RULES.md §1 checked in SQL: INTAKE_LATE, INTAKE_TIME_ORDER, MATCH_NO_FUND_FLOW,
MATCH_AMOUNT, MATCH_PARTY, MATCH_CASH_OR_REUSED_SERIAL.

``check_waybills(session, ids)`` evaluates every rule for those waybills at once and brings the ledger in
line: a firing rule records (or refreshes) its anomaly with the numbers compared, a rule that no longer fires
resolves it — so a fund flow arriving late clears ``MATCH_NO_FUND_FLOW`` on the next check by itself. The
payment-means table has no cash code (code 9 excludes cash explicitly), so ``MATCH_CASH_OR_REUSED_SERIAL``
fires on its other half: one bank ``sequenceCode`` paid against several unrelated waybills.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from store.anomalies import record, resolve
from supervision import configuration

__all__ = ["CODES", "Thresholds", "check_waybills", "document_key"]

CODES = ("INTAKE_LATE", "INTAKE_TIME_ORDER", "MATCH_NO_FUND_FLOW", "MATCH_AMOUNT", "MATCH_PARTY",
         "MATCH_CASH_OR_REUSED_SERIAL")


@dataclass(frozen=True)
class Thresholds:
    """The thresholds these rules compare with; the defaults are spec/RULES.md §1's (configuration version 0).

    :meth:`in_force` reads them from the one configuration place (``rule_thresholds``,
    :mod:`supervision.configuration`), and ``config_version`` is cited in every anomaly's evidence.
    """

    late: dt.timedelta = dt.timedelta(hours=24)
    fund_flow_within: dt.timedelta = dt.timedelta(days=30)
    amount_share: Decimal = Decimal("0.01")
    amount_yuan: Decimal = Decimal(1)
    config_version: int | None = None

    @classmethod
    def of(cls, version: int, rules: dict[str, Any]) -> Thresholds:
        """From a configuration's ``rule_thresholds`` (already validated)."""
        return cls(late=dt.timedelta(hours=rules["intake_late_hours"]),
                   fund_flow_within=dt.timedelta(days=rules["fund_flow_within_days"]),
                   amount_share=Decimal(str(rules["amount_share"])), amount_yuan=Decimal(str(rules["amount_yuan"])),
                   config_version=version)

    @classmethod
    def in_force(cls, session: Session) -> Thresholds:
        """The thresholds of the configuration in force."""
        cfg = configuration.current(session)
        return cls.of(cfg.version, cfg["rule_thresholds"])


def document_key(waybill_id: int) -> str:
    """The ledger key of a waybill-level anomaly."""
    return f"waybill:{waybill_id}"


@dataclass
class _Finding:
    code: str
    waybill_id: int
    operator_id: int
    reason_zh: str
    reason_en: str
    numbers: dict[str, Any] = field(default_factory=dict)


_BASE_SQL = text("""
    SELECT w.id, w.operator_id, w.consignment_at, w.despatch_at, w.receipt_at, w.send_to_pro_at,
           w.received_at, w.total_amount, w.actual_carrier_id,
           (SELECT count(*) FROM fund_flow_waybill ffw JOIN fund_flow f ON f.id = ffw.fund_flow_id
             WHERE ffw.waybill_id = w.id AND f.operator_id = w.operator_id) AS fund_flows
    FROM waybill w WHERE w.id = ANY(:ids) AND NOT w.is_sandbox
""")

# A fund flow paying only this waybill: its payments must add up to the waybill's amount too.
_PAYMENTS_SQL = text("""
    SELECT ffw.waybill_id, f.id AS fund_flow_id, f.document_number, ffw.total_amount AS declared,
           (SELECT coalesce(sum(p.amount), 0) FROM fund_flow_payment p WHERE p.fund_flow_id = f.id)
             AS payments,
           (SELECT count(*) FROM fund_flow_waybill x WHERE x.fund_flow_id = f.id) AS waybills,
           f.vehicle_number, f.plate_color, f.actual_carrier_id
    FROM fund_flow_waybill ffw JOIN fund_flow f ON f.id = ffw.fund_flow_id
    JOIN waybill w ON w.id = ffw.waybill_id AND w.operator_id = f.operator_id
    WHERE ffw.waybill_id = ANY(:ids)
""")

_VEHICLES_SQL = text("""
    SELECT waybill_id, array_agg(vehicle_number || '/' || plate_color) AS plates
    FROM waybill_vehicle WHERE waybill_id = ANY(:ids) GROUP BY waybill_id
""")

# The same bank sequence code in payments of fund flows that pay other waybills (of any operator).
_REUSED_SQL = text("""
    SELECT ffw.waybill_id, p.sequence_code, array_agg(DISTINCT other.waybill_id) AS others
    FROM fund_flow_waybill ffw
    JOIN fund_flow_payment p ON p.fund_flow_id = ffw.fund_flow_id
    JOIN fund_flow_payment q ON q.sequence_code = p.sequence_code AND q.fund_flow_id <> p.fund_flow_id
    JOIN fund_flow_waybill other ON other.fund_flow_id = q.fund_flow_id AND other.waybill_id <> ffw.waybill_id
    JOIN fund_flow f ON f.id = ffw.fund_flow_id JOIN fund_flow g ON g.id = q.fund_flow_id
    WHERE ffw.waybill_id = ANY(:ids) AND other.waybill_id IS NOT NULL AND p.sequence_code <> ''
      AND (g.received_at, g.id) < (f.received_at, f.id)   -- the later use is the re-use
    GROUP BY ffw.waybill_id, p.sequence_code
""")


def _times(r, th: Thresholds) -> list[_Finding]:
    out = []
    if r.received_at - r.receipt_at > th.late:
        hours = (r.received_at - r.receipt_at).total_seconds() / 3600
        due = th.late.total_seconds() / 3600
        out.append(_Finding("INTAKE_LATE", r.id, r.operator_id,
                            f"运单在收货后 {hours:.1f} 小时才上传（应在 {due:g} 小时内）",
                            f"waybill uploaded {hours:.1f} h after receipt (due within {due:g} h)",
                            {"receiptAt": r.receipt_at.isoformat(), "receivedAt": r.received_at.isoformat(),
                             "hours": round(hours, 1), "dueWithinHours": due}))
    chain = [("consignment", r.consignment_at), ("despatch", r.despatch_at), ("receipt", r.receipt_at),
             ("sendToPro", r.send_to_pro_at), ("received", r.received_at)]
    broken = [f"{a}>{b}" for (a, ta), (b, tb) in itertools.pairwise(chain)
              if ta is not None and tb is not None and (ta > tb or (a == "despatch" and ta >= tb))]
    if broken:
        out.append(_Finding("INTAKE_TIME_ORDER", r.id, r.operator_id,
                            "运单时间顺序错误：" + "，".join(broken),
                            "waybill times out of order: " + ", ".join(broken),
                            {k: (t.isoformat() if t else None) for k, t in chain} | {"broken": broken}))
    return out


def _matching(r, pays: list, plates: list[str], reused: list, now: dt.datetime,
              th: Thresholds) -> list[_Finding]:
    out = []
    if r.fund_flows == 0:
        if now - r.receipt_at > th.fund_flow_within:
            days = (now - r.receipt_at).days
            out.append(_Finding("MATCH_NO_FUND_FLOW", r.id, r.operator_id,
                                f"收货 {days} 天后仍无资金流水单", f"no fund flow {days} days after receipt",
                                {"receiptAt": r.receipt_at.isoformat(), "days": days}))
        return out
    amount = Decimal(r.total_amount)
    # What was paid: a fund flow paying only this waybill counts its payments; one paying several, the share
    # it declares for this waybill.
    paid = sum((Decimal(p.payments) if p.waybills == 1 else Decimal(p.declared) for p in pays), Decimal(0))
    diff = abs(paid - amount)
    if diff > th.amount_yuan and diff > th.amount_share * amount:
        out.append(_Finding("MATCH_AMOUNT", r.id, r.operator_id,
                            f"资金流水支付 {paid} 元，运单金额 {amount} 元，相差 {diff} 元",
                            f"fund flows paid {paid} yuan against a waybill amount of {amount} yuan "
                            f"({diff} apart)",
                            {"waybillAmount": str(amount), "paid": str(paid), "difference": str(diff),
                             "fundFlows": [p.document_number for p in pays]}))
    strangers = [p for p in pays if f"{p.vehicle_number}/{p.plate_color}" not in plates
                 or (p.actual_carrier_id or "") != (r.actual_carrier_id or "")]
    if strangers:
        p = strangers[0]
        carrier_differs = (p.actual_carrier_id or "") != (r.actual_carrier_id or "")
        out.append(_Finding("MATCH_PARTY", r.id, r.operator_id,
                            f"资金流水单 {p.document_number} 的车辆或实际承运人与运单不一致",
                            f"fund flow {p.document_number} names another vehicle or actual carrier",
                            {"fundFlow": p.document_number, "waybillVehicles": plates,
                             "fundFlowVehicle": f"{p.vehicle_number}/{p.plate_color}",
                             "actualCarrierDiffers": carrier_differs}))
    if reused:
        u = reused[0]
        out.append(_Finding("MATCH_CASH_OR_REUSED_SERIAL", r.id, r.operator_id,
                            f"银行流水号 {u.sequence_code} 已用于其他运单（{len(u.others)} 张）",
                            f"bank serial {u.sequence_code} already paid {len(u.others)} other waybill(s)",
                            {"sequenceCode": u.sequence_code, "otherWaybillIds": sorted(u.others)}))
    return out


def check_waybills(session: Session, ids: Sequence[int], *, now: dt.datetime | None = None,
                   thresholds: Thresholds | None = None) -> dict[str, int]:
    """Evaluate the rules for these waybills and update the ledger; returns how many fired per code.

    ``thresholds`` default to the configuration in force (:meth:`Thresholds.in_force`).
    """
    ids = list(ids)
    if not ids:
        return {}
    thresholds = thresholds or Thresholds.in_force(session)
    now = now or dt.datetime.now(dt.UTC)
    rows = session.execute(_BASE_SQL, {"ids": ids}).all()
    pays: dict[int, list] = {}
    for p in session.execute(_PAYMENTS_SQL, {"ids": ids}):
        pays.setdefault(p.waybill_id, []).append(p)
    plates = {r.waybill_id: list(r.plates) for r in session.execute(_VEHICLES_SQL, {"ids": ids})}
    reused: dict[int, list] = {}
    for u in session.execute(_REUSED_SQL, {"ids": ids}):
        reused.setdefault(u.waybill_id, []).append(u)
    fired: dict[str, int] = {}
    for r in rows:
        found = _times(r, thresholds) + _matching(r, pays.get(r.id, []), plates.get(r.id, []),
                                                  reused.get(r.id, []), now, thresholds)
        key = document_key(r.id)
        for f in found:
            record(session, f.code, document_kind="waybill", document_key=key, operator_id=f.operator_id,
                   document_id=f.waybill_id, reason_zh=f.reason_zh, reason_en=f.reason_en,
                   evidence={"numbers": f.numbers, "configVersion": thresholds.config_version})
            fired[f.code] = fired.get(f.code, 0) + 1
        resolve(session, document_kind="waybill", document_key=key, codes=CODES,
                still_firing={f.code for f in found})
    return fired

