"""Why an indicator is below 100: the documents (waybills, fund flows, messages, vehicles, drivers) that lowered it,
each with the standing anomalies (or verdicts) that count against it — the same units and rules as
:mod:`supervision.indicators.indicators`, so the list's total is the indicator's ``total − good``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.masking import mask_id_number, mask_text
from auth.scope import Scope
from core.errors import InvalidInputError, NotFoundError
from store.models import Operator
from supervision.configuration import INDICATORS
from supervision.indicators.indicators import _COUNTED_SQL, BASE_CTES, NAMES, PARTY_CTES, bounds
from supervision.indicators.periods import Period

__all__ = ["explain"]


def _anomalies(alias: str = "a") -> str:
    return (f"jsonb_agg(jsonb_build_object('id', {alias}.id, 'code', {alias}.code, 'status', {alias}.status, "
            f"'reasonZh', {alias}.reason_zh, 'reasonEn', {alias}.reason_en) ORDER BY {alias}.id)")


def _waybills_with(code_sql: str) -> str:
    return f"""
      SELECT 'waybill' AS kind, w.id, wb.shipping_note_number || '/' || wb.serial_number AS label,
             wb.receipt_at AS at, {_anomalies()} AS anomalies, NULL::jsonb AS verdicts
      FROM w JOIN waybill wb ON wb.id = w.id
      JOIN anomaly a ON a.document_kind = 'waybill' AND a.document_id = w.id
      WHERE a.status IN {_COUNTED_SQL} AND ({code_sql})
      GROUP BY w.id, wb.shipping_note_number, wb.serial_number, wb.receipt_at"""


_PARTS: dict[str, str] = {
    "upload_timeliness": _waybills_with("a.code = 'INTAKE_LATE'") + f"""
      UNION ALL
      SELECT 'fund_flow', f.id, f.document_number, coalesce(f.last_paid_at, f.send_to_pro_at), {_anomalies()}, NULL
      FROM fund_flow f JOIN ops ON ops.id = f.operator_id
      JOIN anomaly a ON a.document_kind = 'fund_flow' AND a.document_id = f.id
      WHERE NOT f.is_sandbox AND coalesce(f.last_paid_at, f.send_to_pro_at) >= :t0
        AND coalesce(f.last_paid_at, f.send_to_pro_at) < :t1
        AND a.code = 'INTAKE_LATE' AND a.status IN {_COUNTED_SQL}
      GROUP BY f.id""",
    "intake_quality": f"""
      SELECT 'message' AS kind, m.id, coalesce(m.ipc_type, '?') || ' ' || coalesce(m.message_reference_number, '')
             || ' → ' || m.result_code AS label, m.received_at AS at,
             coalesce((SELECT {_anomalies()} FROM anomaly a WHERE a.document_kind = 'message'
                       AND a.document_id = m.id AND a.code = 'INTAKE_REJECTED'), '[]'::jsonb) AS anomalies,
             jsonb_build_object('resultCode', m.result_code, 'resultMsg', m.result_msg) AS verdicts
      FROM message m JOIN ops ON ops.id = m.operator_id
      WHERE NOT m.is_sandbox AND m.duplicate_of IS NULL AND m.result_code IS NOT NULL AND m.result_code <> 1001
        AND m.received_at >= :t0 AND m.received_at < :t1
        AND NOT EXISTS (SELECT 1 FROM anomaly a WHERE a.document_kind = 'message' AND a.document_id = m.id
                        AND a.code = 'INTAKE_REJECTED' AND a.status IN ('overturned', 'resolved'))""",
    "fund_matching": _waybills_with("a.code LIKE 'MATCH\\_%'"),
    "uniqueness": _waybills_with("a.code = 'DUPLICATE_WAYBILL'"),
    "vehicle_qualification": f"""
      SELECT 'vehicle' AS kind, min(wv.vehicle_id) AS id, min(wv.vehicle_number) AS label, NULL::timestamptz AS at,
             {_anomalies('x')} AS anomalies, NULL::jsonb AS verdicts
      FROM (SELECT DISTINCT operator_id, vkey, anomaly_id FROM vbad WHERE code LIKE 'QUAL\\_VEHICLE%') b
      JOIN anomaly x ON x.id = b.anomaly_id
      JOIN (SELECT DISTINCT vkey, vehicle_id, vehicle_number FROM wv) wv ON wv.vkey = b.vkey
      GROUP BY b.vkey""",
    "vehicle_in_network": f"""
      SELECT 'vehicle' AS kind, min(wv.vehicle_id) AS id, min(wv.vehicle_number) AS label, NULL::timestamptz AS at,
             {_anomalies('x')} AS anomalies, NULL::jsonb AS verdicts
      FROM (SELECT DISTINCT operator_id, vkey, anomaly_id FROM vbad WHERE code = 'VEHICLE_NOT_IN_NETWORK') b
      JOIN vk ON vk.operator_id = b.operator_id AND vk.vkey = b.vkey AND vk.heavy
      JOIN anomaly x ON x.id = b.anomaly_id
      JOIN (SELECT DISTINCT vkey, vehicle_id, vehicle_number FROM wv) wv ON wv.vkey = b.vkey
      GROUP BY b.vkey""",
    "driver_qualification": f"""
      SELECT 'driver' AS kind, min(wd.driver_id) AS id, min(wd.driving_license) AS label, NULL::timestamptz AS at,
             {_anomalies('x')} AS anomalies, NULL::jsonb AS verdicts
      FROM (SELECT DISTINCT operator_id, dkey, anomaly_id FROM dbad) b
      JOIN anomaly x ON x.id = b.anomaly_id
      JOIN (SELECT DISTINCT dkey, driver_id, driving_license FROM wd) wd ON wd.dkey = b.dkey
      GROUP BY b.dkey""",
    "trajectory_compliance": f"""
      SELECT 'waybill' AS kind, w.id, wb.shipping_note_number || '/' || wb.serial_number AS label,
             wb.receipt_at AS at,
             coalesce((SELECT {_anomalies()} FROM anomaly a WHERE a.document_kind = 'waybill'
                       AND a.document_id = w.id AND a.code LIKE 'TRACK\\_%' AND a.status IN {_COUNTED_SQL}),
                      '[]'::jsonb) AS anomalies,
             jsonb_agg(jsonb_build_object('verificationId', v.id, 'seq', wv.seq, 'verdict', v.verdict)
                       ORDER BY wv.seq) AS verdicts
      FROM w JOIN waybill wb ON wb.id = w.id
      JOIN verification v ON v.waybill_id = w.id AND v.current
      LEFT JOIN waybill_vehicle wv ON wv.id = v.waybill_vehicle_id
      GROUP BY w.id, wb.shipping_note_number, wb.serial_number, wb.receipt_at
      HAVING NOT bool_and(v.verdict = 'PASS')""",
}


def explain(db_session: Session, scope: Scope, operator_id: int, indicator: str, period: Period, *,
            limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The page of documents that lowered ``indicator`` of ``operator_id`` over ``period``.

    Raises
    ------
    ScopeError
        For an analyst (single documents are not aggregates).
    NotFoundError
        Unknown operator, or one the scope does not see.
    InvalidInputError
        Unknown indicator.
    """
    scope.require_documents()
    if indicator not in INDICATORS:
        raise InvalidInputError(f"unknown indicator {indicator!r}; known: {list(INDICATORS)}")
    op = db_session.get(Operator, operator_id)
    if op is None or op.is_sandbox or not scope.allows_operator(op):
        raise NotFoundError(f"no operator {operator_id}")
    db_session.execute(text("SET LOCAL jit = off"))  # as indicators.compute: compiling costs more than running
    sql = text(f"""
        WITH {BASE_CTES}, {PARTY_CTES}
        SELECT x.*, count(*) OVER () AS total FROM ({_PARTS[indicator]}) x
        ORDER BY x.at NULLS LAST, x.kind, x.id LIMIT :limit OFFSET :offset""")
    rows = db_session.execute(sql, {**bounds(period), "ops": [operator_id], "limit": limit,
                                    "offset": offset}).mappings().all()
    items = []
    for r in rows:
        label = mask_id_number(r["label"]) if r["kind"] == "driver" else r["label"]
        anomalies = [{**a, "reasonZh": mask_text(a["reasonZh"] or ""), "reasonEn": mask_text(a["reasonEn"] or "")}
                     for a in (r["anomalies"] or [])]
        items.append({"documentKind": r["kind"], "documentId": r["id"], "label": label, "at": r["at"],
                      "anomalies": anomalies, "verdicts": r["verdicts"]})
    total = rows[0]["total"] if rows else 0
    if not rows and offset:
        total = db_session.execute(text(f"WITH {BASE_CTES}, {PARTY_CTES} SELECT count(*) FROM "
                                        f"({_PARTS[indicator]}) x"),
                                   {**bounds(period), "ops": [operator_id]}).scalar_one()
    zh, en = NAMES[indicator]
    return {"operatorId": operator_id, "indicator": indicator, "nameZh": zh, "nameEn": en,
            "period": period.label, "from": period.first, "to": period.last,
            "total": total, "limit": limit, "offset": offset, "items": items}
