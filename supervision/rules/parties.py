"""INTAKE_UNKNOWN_PARTY (spec/RULES.md §1): a waybill names a vehicle or driver that its own operator never
reported (WLHY_CL1001 / WLHY_JSY1001). Another platform's report of the same truck or person does not count: each
platform must report the parties it dispatches. A report arriving later resolves the anomaly on the next check."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.masking import mask_id_number
from store.anomalies import record, resolve
from supervision.rules.ledger import Ledger
from supervision.rules.waybills import document_key

__all__ = ["CODE", "check_parties"]

CODE = "INTAKE_UNKNOWN_PARTY"

# Every vehicle and driver a waybill names, with whether its operator reported it, and whether anybody did.
_SQL = text("""
    SELECT w.id AS waybill_id, w.operator_id, 'vehicle' AS kind,
           wv.vehicle_number || '/' || wv.plate_color AS party,
           EXISTS (SELECT 1 FROM vehicle_report r WHERE r.operator_id = w.operator_id AND NOT r.is_sandbox
                     AND r.vehicle_number = wv.vehicle_number AND r.plate_color = wv.plate_color) AS own,
           EXISTS (SELECT 1 FROM vehicle_report r WHERE r.operator_id <> w.operator_id AND NOT r.is_sandbox
                     AND r.vehicle_number = wv.vehicle_number AND r.plate_color = wv.plate_color) AS others
    FROM waybill w JOIN waybill_vehicle wv ON wv.waybill_id = w.id
    WHERE w.id = ANY(:ids) AND NOT w.is_sandbox
    UNION ALL
    SELECT w.id, w.operator_id, 'driver', wd.driving_license,
           EXISTS (SELECT 1 FROM driver_report r WHERE r.operator_id = w.operator_id AND NOT r.is_sandbox
                     AND r.driving_license = wd.driving_license),
           EXISTS (SELECT 1 FROM driver_report r WHERE r.operator_id <> w.operator_id AND NOT r.is_sandbox
                     AND r.driving_license = wd.driving_license)
    FROM waybill w JOIN waybill_vehicle wv ON wv.waybill_id = w.id
    JOIN waybill_driver wd ON wd.waybill_vehicle_id = wv.id
    WHERE w.id = ANY(:ids) AND NOT w.is_sandbox
""")

_IDS_SQL = text("SELECT id, operator_id FROM waybill WHERE id = ANY(:ids) AND NOT is_sandbox")


def check_parties(session: Session, ids: Sequence[int]) -> int:
    """Evaluate INTAKE_UNKNOWN_PARTY for these waybills and update the ledger; returns how many fired."""
    ids = list(ids)
    if not ids:
        return 0
    missing: dict[int, tuple[int, list]] = {}
    for r in session.execute(_SQL, {"ids": ids}):
        if not r.own:
            missing.setdefault(r.waybill_id, (r.operator_id, []))[1].append(r)
    ledger = Ledger(session, [document_key(i) for i in ids], (CODE,))  # write only what changes
    for wid, operator_id in session.execute(_IDS_SQL, {"ids": ids}).all():
        key = document_key(wid)
        if wid in missing:
            rows = missing[wid][1]
            vehicles = [r.party for r in rows if r.kind == "vehicle"]
            drivers = [mask_id_number(r.party) for r in rows if r.kind == "driver"]
            zh, en = [], []
            if vehicles:
                zh.append(f"车辆 {'、'.join(vehicles)} 未经本平台上报（WLHY_CL1001）")
                en.append(f"vehicle(s) {', '.join(vehicles)} never reported by this platform (WLHY_CL1001)")
            if drivers:
                zh.append(f"驾驶员 {'、'.join(drivers)} 未经本平台上报（WLHY_JSY1001）")
                en.append(f"driver(s) {', '.join(drivers)} never reported by this platform (WLHY_JSY1001)")
            others = [r.party if r.kind == "vehicle" else mask_id_number(r.party) for r in rows if r.others]
            evidence = {"numbers": {"vehicles": vehicles, "drivers": drivers,
                                    "reportedOnlyByOtherPlatforms": others},
                        "documents": [{"kind": "waybill", "id": wid, "key": key}]}
            if not ledger.unchanged(key, CODE, "; ".join(en), evidence):
                record(session, CODE, document_kind="waybill", document_key=key, operator_id=operator_id,
                       document_id=wid, reason_zh="；".join(zh), reason_en="; ".join(en), evidence=evidence)
        if ledger.needs_resolve(key, (CODE,), {CODE} if wid in missing else set()):
            resolve(session, document_kind="waybill", document_key=key, codes=(CODE,),
                    still_firing={CODE} if wid in missing else set())
    return len(missing)
