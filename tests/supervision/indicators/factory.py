"""Direct inserts of the few rows an indicator reads (operators, waybills with vehicle and driver items, fund flows,
messages, verifications) — small hand-computed cases without the intake pipeline."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy.orm import Session

from store.anomalies import record
from store.models import (
    Driver,
    FundFlow,
    Message,
    Operator,
    Vehicle,
    Verification,
    Waybill,
    WaybillDriver,
    WaybillVehicle,
)

BJ = dt.timezone(dt.timedelta(hours=8))


def at(day: str, hour: int = 12) -> dt.datetime:
    """Beijing time on ``day`` (YYYY-MM-DD)."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=BJ)


def operator(s: Session, name: str, division: str = "340104", *, sandbox: bool = False) -> Operator:
    op = Operator(usci=uuid.uuid4().hex[:18].upper(), name=name, division_code=division, is_sandbox=sandbox)
    s.add(op)
    s.flush()
    return op


def vehicle(s: Session, plate: str, gross_t: float, kind: str = "H01") -> Vehicle:
    v = Vehicle(vehicle_number=plate, plate_color="2", gross_mass_t=Decimal(str(gross_t)), vehicle_type=kind,
                content_sha256="0" * 64)
    s.add(v)
    s.flush()
    return v


def driver(s: Session, licence: str, name: str = "张三") -> Driver:
    d = Driver(driving_license=licence, name=name, content_sha256="0" * 64)
    s.add(d)
    s.flush()
    return d


def waybill(s: Session, op: Operator, receipt: dt.datetime, veh: Vehicle | None = None, drv: Driver | None = None,
            *, sandbox: bool = False, note: str | None = None) -> Waybill:
    note = note or "YD" + uuid.uuid4().hex[:12].upper()
    despatch = receipt - dt.timedelta(hours=6)
    w = Waybill(operator_id=op.id, shipping_note_number=note, serial_number="0000", original_document_number=note,
                vehicle_amount=1, transport_type_code="1", business_type_code="1002996", carrier=op.name,
                usci=op.usci, permit_number="340100000001", send_to_pro_at=receipt + dt.timedelta(hours=1),
                consignment_at=despatch - dt.timedelta(hours=2), despatch_at=despatch, receipt_at=receipt,
                total_amount=Decimal(1000), consignor="甲", consignor_id="x", loading_division_code="340104",
                consignee="乙", receipt_division_code="340111", actual_carrier_name="丙", actual_carrier_license="x",
                actual_carrier_id="x", policy_number="x", insurance_company_code="x", content_sha256="0" * 64,
                is_sandbox=sandbox)
    s.add(w)
    s.flush()
    if veh is not None:
        item = WaybillVehicle(waybill_id=w.id, seq=1, vehicle_number=veh.vehicle_number, plate_color="2",
                              vehicle_id=veh.id, despatch_at=despatch, receipt_at=receipt,
                              loading_division_code="340104", receipt_division_code="340111")
        s.add(item)
        s.flush()
        if drv is not None:
            s.add(WaybillDriver(waybill_vehicle_id=item.id, driver_name=drv.name,
                                driving_license=drv.driving_license, driver_id=drv.id))
            s.flush()
    return w


def fund_flow(s: Session, op: Operator, paid: dt.datetime) -> FundFlow:
    f = FundFlow(operator_id=op.id, document_number="ZJ" + uuid.uuid4().hex[:12], send_to_pro_at=paid,
                 carrier=op.name, actual_carrier_id="x", vehicle_number="皖A00000", plate_color="2",
                 total_paid=Decimal(1000), last_paid_at=paid, content_sha256="0" * 64)
    s.add(f)
    s.flush()
    return f


def message(s: Session, op: Operator, received: dt.datetime, code: int = 1001, *, sandbox: bool = False,
            duplicate_of: int | None = None) -> Message:
    m = Message(operator_id=op.id, user_name=f"u{op.id}", message_reference_number=uuid.uuid4().hex,
                ipc_type="WLHY_YD1001", received_at=received, result_code=code, is_sandbox=sandbox,
                duplicate_of=duplicate_of)
    s.add(m)
    s.flush()
    return m


def verification(s: Session, w: Waybill, verdict: str, *, current: bool = True) -> Verification:
    v = Verification(waybill_id=w.id, verdict=verdict, rules=[], current=current)
    s.add(v)
    s.flush()
    return v


def anomaly(s: Session, code: str, doc, *, kind: str = "waybill", key: str | None = None,
            status: str | None = None, operator_id: int | None = None, evidence: dict | None = None) -> int:
    """Record ``code`` on ``doc`` (a waybill, fund flow, message, vehicle or driver row); optionally set its status."""
    from sqlalchemy import text

    op_id = operator_id if operator_id is not None else getattr(doc, "operator_id", None)
    aid = record(s, code, document_kind=kind, document_key=key or f"{kind}:{doc.id}", document_id=doc.id,
                 operator_id=op_id, reason_zh="测试", reason_en="test", evidence=evidence)
    if status is not None:
        s.execute(text("UPDATE anomaly SET status = :st WHERE id = :i"), {"st": status, "i": aid})
    return aid
