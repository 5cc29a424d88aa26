"""Building operators, waybills, messages and anomalies quickly (SQL), for the alarm and appeal tests."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text

from store.anomalies import record
from store.models import Operator

NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)


def operator(session, division: str = "340104", name: str = "测试平台") -> Operator:
    tag = uuid.uuid4().hex[:10].upper()
    op = Operator(usci=f"91{division}{tag}"[:18], name=name, division_code=division,
                  permit_number=f"皖交运管许可{tag}号")
    session.add(op)
    session.flush()
    return op


_WAYBILLS = text("""
INSERT INTO waybill (operator_id, shipping_note_number, serial_number, original_document_number, vehicle_amount,
    transport_type_code, business_type_code, carrier, usci, permit_number, send_to_pro_at, consignment_at,
    despatch_at, receipt_at, total_amount, consignor, consignor_id, loading_division_code, consignee,
    receipt_division_code, actual_carrier_name, actual_carrier_license, actual_carrier_id, policy_number,
    insurance_company_code, version, content_sha256, received_at)
SELECT :op, :tag || lpad(g::text, 6, '0'), '0000', 'O' || g, 1, '1', '1002996', '平台', :usci, :permit,
    :at, :at - interval '2 days', :at - interval '1 day', :at - interval '2 hours', 1000, '托运人', 'X', '340104',
    '收货人', '340102', '实际承运人', 'L', 'I', 'P', 'PICC', 1, md5(g::text), :at
FROM generate_series(1, :n) g
RETURNING id
""")


def waybills(session, op: Operator, n: int, *, at: dt.datetime = NOW - dt.timedelta(days=3)) -> list[int]:
    """``n`` waybills of ``op`` received at ``at`` (despatched a day before)."""
    return list(session.execute(_WAYBILLS, {"op": op.id, "tag": "YD" + uuid.uuid4().hex[:10], "usci": op.usci,
                                            "permit": op.permit_number, "at": at, "n": n}).scalars())


def messages(session, op: Operator, n: int, *, at: dt.datetime = NOW - dt.timedelta(days=3)) -> list[int]:
    return list(session.execute(text(
        "INSERT INTO message (operator_id, received_at, ipc_type, result_code) "
        "SELECT :op, :at, 'WLHY_YD1001', 1001 FROM generate_series(1, :n) RETURNING id"),
        {"op": op.id, "at": at, "n": n}).scalars())


def flag(session, op: Operator, ids: list[int], code: str = "TRACK_MISSING", kind: str = "waybill",
         at: dt.datetime | None = None) -> list[int]:
    """An anomaly ``code`` on each document (detected at ``at`` when given)."""
    out = []
    for i in ids:
        aid = record(session, code, document_kind=kind, document_key=f"{kind}:{i}:{code}", document_id=i,
                     operator_id=op.id, reason_zh="测试", reason_en="test")
        if at is not None:
            session.execute(text("UPDATE anomaly SET detected_at = :at WHERE id = :i"), {"at": at, "i": aid})
        out.append(aid)
    return out
