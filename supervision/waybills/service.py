"""Reading waybills and fund flows within a Scope (B2): filtered pages, and details linked both ways.

Personal data (drivers' ID numbers, the actual carrier's ID, receiving bank accounts) is masked here through
``auth.masking`` unless the scope may see it; a detail read that shows any in clear is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from geoalchemy2.functions import ST_X, ST_Y
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from auth import audit
from auth.masking import mask
from auth.scope import Scope
from core.beijing import day_bounds
from store.models import (
    Anomaly,
    FundFlow,
    FundFlowPayment,
    FundFlowWaybill,
    Operator,
    Verification,
    Waybill,
    WaybillDriver,
    WaybillGoods,
    WaybillVehicle,
)
from store.paging import Page, narrow, order, page

__all__ = ["FundFlowFilter", "WaybillFilter", "fund_flow_detail", "list_fund_flows", "list_waybills",
           "visible_waybill", "waybill_detail"]

WAYBILL_SORTS = {"despatchAt": Waybill.despatch_at, "receiptAt": Waybill.receipt_at, "id": Waybill.id,
                 "totalAmount": Waybill.total_amount, "receivedAt": Waybill.received_at}
FUND_FLOW_SORTS = {"sendToProAt": FundFlow.send_to_pro_at, "totalPaid": FundFlow.total_paid, "id": FundFlow.id,
                   "receivedAt": FundFlow.received_at}


@dataclass(frozen=True)
class WaybillFilter:
    """Narrowing of the waybill list; dates are Beijing days of despatch, both included."""

    operator_id: int | None = None
    shipping_note_number: str | None = None
    vehicle_number: str | None = None
    division: str | None = None            # leading digits of the operator's registered division
    loading_division: str | None = None    # leading digits of the loading place's division
    receipt_division: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


@dataclass(frozen=True)
class FundFlowFilter:
    """Narrowing of the fund-flow list; dates are Beijing days of sending to the platform, both included."""

    operator_id: int | None = None
    document_number: str | None = None
    vehicle_number: str | None = None
    shipping_note_number: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _dates(q: Select, column, first: dt.date | None, last: dt.date | None) -> Select:
    if not (first or last):
        return q
    lo, hi = day_bounds(first or dt.date(2000, 1, 1), last or dt.date(2999, 12, 31))
    return q.where(column >= lo, column < hi)


def _in_division(column, prefix: str):
    return column.in_(select(Operator.id).where(Operator.division_code.like(f"{prefix}%")))


def list_waybills(*, db_session: Session, scope: Scope, filters: WaybillFilter = WaybillFilter(),
                  sort: str = "-despatchAt", limit: int = 100, offset: int = 0) -> Page[Waybill]:
    """One page of the waybills ``scope`` may see (production data only), matching ``filters``."""
    scope.require_documents()
    f = filters
    q = narrow(select(Waybill).where(scope.operator_filter(Waybill.operator_id), Waybill.is_sandbox.is_(False)),
               {Waybill.operator_id: f.operator_id, Waybill.shipping_note_number: f.shipping_note_number},
               prefix={Waybill.loading_division_code: f.loading_division,
                       Waybill.receipt_division_code: f.receipt_division})
    if f.vehicle_number:
        q = q.where(Waybill.id.in_(select(WaybillVehicle.waybill_id).where(
            WaybillVehicle.vehicle_number == f.vehicle_number)))
    if f.division:
        q = q.where(_in_division(Waybill.operator_id, f.division))
    q = _dates(q, Waybill.despatch_at, f.date_from, f.date_to)
    return page(db_session, q, order_by=order(WAYBILL_SORTS, sort, Waybill.id), limit=limit, offset=offset,
                plain=True)


def visible_waybill(db_session: Session, scope: Scope, waybill_id: int) -> Waybill | None:
    """The waybill when this viewer may see it, else None (unknown and out of scope answer alike)."""
    scope.require_documents()
    return db_session.scalars(select(Waybill).where(Waybill.id == waybill_id,
                                                    scope.operator_filter(Waybill.operator_id))).one_or_none()


def waybill_detail(*, db_session: Session, scope: Scope, waybill_id: int, ip: str | None = None
                   ) -> dict[str, Any] | None:
    """The waybill with its vehicles (drivers, goods, places), fund flows, current verdicts and anomalies.

    None when unknown or out of scope (the two answer alike).
    """
    w = visible_waybill(db_session, scope, waybill_id)
    if w is None:
        return None
    clear = scope.personal_data
    # Only the columns shown, as plain rows (no ORM objects): the verdict's GeoJSON evidence and the anomalies'
    # evidence can be large and are not part of this answer. The places' coordinates come with the items.
    V = WaybillVehicle
    items = db_session.execute(select(
        V.id, V.seq, V.vehicle_number, V.plate_color, V.vehicle_id, V.despatch_at, V.receipt_at, V.loading_place,
        V.loading_division_code, V.receipt_place, V.receipt_division_code, V.places_from_coordinates,
        ST_X(V.loading_geom).label("lx"), ST_Y(V.loading_geom).label("ly"),
        ST_X(V.receipt_geom).label("rx"), ST_Y(V.receipt_geom).label("ry"))
        .where(V.waybill_id == w.id).order_by(V.seq)).all()
    ids = [i.id for i in items]
    drivers = _group(db_session.execute(select(
        WaybillDriver.waybill_vehicle_id, WaybillDriver.driver_name, WaybillDriver.driving_license,
        WaybillDriver.driver_id).where(WaybillDriver.waybill_vehicle_id.in_(ids)).order_by(WaybillDriver.id)))
    goods = _group(db_session.execute(select(
        WaybillGoods.waybill_vehicle_id, WaybillGoods.description, WaybillGoods.cargo_type_code,
        WaybillGoods.weight_kg).where(WaybillGoods.waybill_vehicle_id.in_(ids)).order_by(WaybillGoods.id)))
    verdicts = {v.waybill_vehicle_id: v for v in db_session.execute(select(
        Verification.waybill_vehicle_id, Verification.verdict, Verification.rules).where(
        Verification.waybill_id == w.id, Verification.current))}
    flows = db_session.execute(select(FundFlow.id, FundFlow.document_number, FundFlowWaybill.total_amount)
                               .join(FundFlowWaybill, FundFlowWaybill.fund_flow_id == FundFlow.id)
                               .where(FundFlowWaybill.waybill_id == w.id,
                                      scope.operator_filter(FundFlow.operator_id))).all()
    anomalies = db_session.execute(select(
        Anomaly.id, Anomaly.code, Anomaly.status, Anomaly.severity, Anomaly.reason_zh, Anomaly.reason_en)
        .where(Anomaly.document_kind == "waybill", Anomaly.document_id == w.id).order_by(Anomaly.id)).all()
    out = {
        "id": w.id, "operatorId": w.operator_id, "shippingNoteNumber": w.shipping_note_number,
        "serialNumber": w.serial_number, "version": w.version, "receivedAt": w.received_at,
        "consignmentAt": w.consignment_at, "despatchAt": w.despatch_at, "receiptAt": w.receipt_at,
        "carrier": w.carrier, "consignor": w.consignor, "consignee": w.consignee,
        "actualCarrierName": w.actual_carrier_name, "actualCarrierId": mask(w.actual_carrier_id, "id_number",
                                                                            clear=clear),
        "loadingPlace": w.loading_place, "loadingDivisionCode": w.loading_division_code,
        "receiptPlace": w.receipt_place, "receiptDivisionCode": w.receipt_division_code,
        "totalAmount": str(w.total_amount), "totalWeightKg": None if w.total_weight_kg is None else str(w.total_weight_kg),
        "vehicles": [{
            "seq": i.seq, "vehicleNumber": i.vehicle_number, "plateColor": i.plate_color, "vehicleId": i.vehicle_id,
            "despatchAt": i.despatch_at, "receiptAt": i.receipt_at,
            "loading": _place(i.loading_place, i.loading_division_code, i.lx, i.ly),
            "receipt": _place(i.receipt_place, i.receipt_division_code, i.rx, i.ry),
            "placesFromCoordinates": i.places_from_coordinates,
            "drivers": [{"name": d.driver_name, "drivingLicense": mask(d.driving_license, "id_number", clear=clear),
                         "driverId": d.driver_id} for d in drivers.get(i.id, [])],
            "goods": [{"description": g.description, "cargoTypeCode": g.cargo_type_code,
                       "weightKg": str(g.weight_kg)} for g in goods.get(i.id, [])],
            "verdict": verdicts[i.id].verdict if i.id in verdicts else None,
            "fired": [r["code"] for r in (verdicts[i.id].rules if i.id in verdicts else []) if r.get("fired")],
        } for i in items],
        "fundFlows": [{"id": f.id, "documentNumber": f.document_number, "amount": str(f.total_amount)}
                      for f in flows],
        "anomalies": [{"id": a.id, "code": a.code, "status": a.status, "severity": a.severity,
                       "reasonZh": a.reason_zh, "reasonEn": a.reason_en} for a in anomalies],
    }
    if clear and scope.role != "system":
        audit.record(db_session, "read_personal_data", scope=scope, target=f"waybill:{w.id}", ip=ip)
    return out


def list_fund_flows(*, db_session: Session, scope: Scope, filters: FundFlowFilter = FundFlowFilter(),
                    sort: str = "-sendToProAt", limit: int = 100, offset: int = 0) -> Page[FundFlow]:
    """One page of the fund flows ``scope`` may see (production data only), matching ``filters``."""
    scope.require_documents()
    f = filters
    q = narrow(select(FundFlow).where(scope.operator_filter(FundFlow.operator_id), FundFlow.is_sandbox.is_(False)),
               {FundFlow.operator_id: f.operator_id, FundFlow.document_number: f.document_number,
                FundFlow.vehicle_number: f.vehicle_number})
    if f.shipping_note_number:
        q = q.where(FundFlow.id.in_(select(FundFlowWaybill.fund_flow_id).where(
            FundFlowWaybill.shipping_note_number == f.shipping_note_number)))
    q = _dates(q, FundFlow.send_to_pro_at, f.date_from, f.date_to)
    return page(db_session, q, order_by=order(FUND_FLOW_SORTS, sort, FundFlow.id), limit=limit, offset=offset,
                plain=True)


def fund_flow_detail(*, db_session: Session, scope: Scope, fund_flow_id: int, ip: str | None = None
                     ) -> dict[str, Any] | None:
    """The fund flow with its payments and the waybills it pays (linked when known); None when not visible."""
    scope.require_documents()
    ff = db_session.scalars(select(FundFlow).where(FundFlow.id == fund_flow_id,
                                                   scope.operator_filter(FundFlow.operator_id))).one_or_none()
    if ff is None:
        return None
    clear = scope.personal_data
    waybills = db_session.scalars(select(FundFlowWaybill).where(FundFlowWaybill.fund_flow_id == ff.id)
                                  .order_by(FundFlowWaybill.id)).all()
    payments = db_session.scalars(select(FundFlowPayment).where(FundFlowPayment.fund_flow_id == ff.id)
                                  .order_by(FundFlowPayment.seq)).all()
    out = {
        "id": ff.id, "operatorId": ff.operator_id, "documentNumber": ff.document_number, "version": ff.version,
        "sendToProAt": ff.send_to_pro_at, "carrier": ff.carrier,
        "actualCarrierId": mask(ff.actual_carrier_id, "id_number", clear=clear),
        "vehicleNumber": ff.vehicle_number, "plateColor": ff.plate_color, "totalPaid": str(ff.total_paid),
        "waybills": [{"shippingNoteNumber": x.shipping_note_number, "serialNumber": x.serial_number,
                      "amount": str(x.total_amount), "waybillId": x.waybill_id} for x in waybills],
        "payments": [{"seq": p.seq, "paymentMeansCode": p.payment_means_code, "recipient": p.recipient,
                      "receiptAccount": mask(p.receipt_account, "bank_account", clear=clear),
                      "bankCode": p.bank_code, "sequenceCode": p.sequence_code, "amount": str(p.amount),
                      "paidAt": p.paid_at} for p in payments],
    }
    if clear and scope.role != "system":
        audit.record(db_session, "read_personal_data", scope=scope, target=f"fund_flow:{ff.id}", ip=ip)
    return out


def _group(rows) -> dict[int, list]:
    out: dict[int, list] = {}
    for r in rows:
        out.setdefault(r.waybill_vehicle_id, []).append(r)
    return out


def _place(text: str | None, code: str, lon: float | None, lat: float | None) -> dict[str, Any]:
    return {"place": text, "divisionCode": code, "lon": lon, "lat": lat}
