"""DUPLICATE_WAYBILL (spec/RULES.md §1): a number re-used for a different transport, or near-identical waybills
under different numbers — the same vehicle, places, times within 10 minutes and amount, by any platform.

The later one is flagged and cites the earlier (reporting one trip twice is the fraud; the first report is not).
A number's versions conflict when the transport itself changed — at least two of vehicle plates, loading division,
unloading division and despatch day differ from an earlier version — not when a field was corrected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from store.anomalies import record, resolve
from supervision import configuration
from supervision.rules.waybills import document_key

__all__ = ["CODE", "check_duplicates", "transport_signature"]

CODE = "DUPLICATE_WAYBILL"
NEAR_S = 600  # "times within 10 min": the default; configuration ``rule_thresholds.duplicate_near_minutes`` rules

_NEAR_SQL = text("""
    SELECT DISTINCT ON (a.waybill_id, b.waybill_id)
           a.waybill_id, wa.operator_id, b.waybill_id AS earlier_id, wb.operator_id AS earlier_operator_id,
           wb.shipping_note_number AS earlier_number, a.vehicle_number
    FROM waybill_vehicle a
    JOIN waybill wa ON wa.id = a.waybill_id
    JOIN waybill_vehicle b ON b.vehicle_number = a.vehicle_number AND b.plate_color = a.plate_color
                          AND b.waybill_id <> a.waybill_id
    JOIN waybill wb ON wb.id = b.waybill_id
    WHERE a.waybill_id = ANY(:ids) AND NOT wa.is_sandbox AND NOT wb.is_sandbox
      AND a.loading_division_code = b.loading_division_code AND a.receipt_division_code = b.receipt_division_code
      AND abs(extract(epoch FROM a.despatch_at - b.despatch_at)) <= :near
      AND abs(extract(epoch FROM a.receipt_at - b.receipt_at)) <= :near
      AND wa.total_amount = wb.total_amount
      AND (wb.received_at, wb.id) < (wa.received_at, wa.id)
    ORDER BY a.waybill_id, b.waybill_id
""")

_VERSIONS_SQL = text("""
    SELECT w.id AS waybill_id, w.operator_id, w.version AS current_version, v.version, v.payload,
           cur.payload AS current_payload
    FROM waybill w
    JOIN document_version cur ON cur.kind = 'waybill' AND cur.document_id = w.id AND cur.version = w.version
    JOIN document_version v ON v.kind = 'waybill' AND v.document_id = w.id AND v.version < w.version
    WHERE w.id = ANY(:ids) AND NOT w.is_sandbox
    ORDER BY w.id, v.version
""")


def transport_signature(payload: dict[str, Any]) -> tuple:
    """(plates, loading division, unloading division, despatch day) of a waybill payload as received.

    >>> transport_signature({"vehicleInfo": [{"vehicleNumber": "皖A1"}], "despatchActualDateTime": "20240315100000",
    ...     "consignorInfo": {"countrySubdivisionCode": "320583"}, "consigneeInfo": {"countrySubdivisionCode": "340104"}})
    (('皖A1',), '320583', '340104', '20240315')
    """
    items = payload.get("vehicleInfo") or []
    items = [items] if isinstance(items, dict) else items
    return (tuple(sorted(str(i.get("vehicleNumber", "")) for i in items)),
            str((payload.get("consignorInfo") or {}).get("countrySubdivisionCode", ""))[:6],
            str((payload.get("consigneeInfo") or {}).get("countrySubdivisionCode", ""))[:6],
            str(payload.get("despatchActualDateTime", ""))[:8])


def _conflicts(a: tuple, b: tuple) -> list[str]:
    names = ("vehicles", "loading", "unloading", "despatchDay")
    return [n for n, x, y in zip(names, a, b, strict=True) if x != y]


def check_duplicates(session: Session, ids: Sequence[int], *, near_s: float | None = None) -> int:
    """Evaluate DUPLICATE_WAYBILL for these waybills and update the ledger; returns how many fired.

    ``near_s`` (times "within" this many seconds) defaults to the configuration in force, whose version the
    anomaly's evidence cites.
    """
    ids = list(ids)
    if not ids:
        return 0
    cfg = configuration.current(session)
    version = cfg.version if near_s is None else None
    near = float(cfg["rule_thresholds"]["duplicate_near_minutes"]) * 60 if near_s is None else float(near_s)
    found: dict[int, dict[str, Any]] = {}
    for r in session.execute(_NEAR_SQL, {"ids": ids, "near": near}):
        f = found.setdefault(r.waybill_id, {"operator_id": r.operator_id, "near": [], "reused": []})
        f["near"].append({"waybillId": r.earlier_id, "operatorId": r.earlier_operator_id,
                          "shippingNoteNumber": r.earlier_number, "vehicle": r.vehicle_number})
    for r in session.execute(_VERSIONS_SQL, {"ids": ids}):
        differ = _conflicts(transport_signature(r.payload), transport_signature(r.current_payload))
        if len(differ) >= 2:
            f = found.setdefault(r.waybill_id, {"operator_id": r.operator_id, "near": [], "reused": []})
            f["reused"].append({"version": r.version, "differs": differ})
    for wid in ids:
        f = found.get(wid)
        if f is not None:
            zh, en = [], []
            if f["near"]:
                first = f["near"][0]
                zh.append(f"与运单 {first['shippingNoteNumber']} 车辆、装卸地、时间和金额相同（共 {len(f['near'])} 张）")
                en.append(f"same vehicle, places, times and amount as waybill {first['shippingNoteNumber']} "
                          f"({len(f['near'])} in all)")
            if f["reused"]:
                v = f["reused"][0]
                zh.append(f"单号被用于另一次运输（与第 {v['version']} 版相比 {', '.join(v['differs'])} 不同）")
                en.append(f"number re-used for another transport ({', '.join(v['differs'])} differ from version "
                          f"{v['version']})")
            record(session, CODE, document_kind="waybill", document_key=document_key(wid),
                   operator_id=f["operator_id"], document_id=wid, reason_zh="；".join(zh), reason_en="; ".join(en),
                   evidence={"numbers": {"nearIdentical": f["near"], "reusedNumber": f["reused"], "nearS": near},
                             "configVersion": version})
        resolve(session, document_kind="waybill", document_key=document_key(wid), codes=(CODE,),
                still_firing={CODE} if f is not None else set())
    return len(found)
