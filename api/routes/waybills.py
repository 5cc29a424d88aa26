"""``/api/v1/waybills`` and ``/api/v1/fund-flows`` (B2): lists (JSON or CSV) and details, linked both ways."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from api import openapi as docs
from api.deps import ScopeDep, SessionDep
from api.export import csv_response, features_response
from core.errors import NotFoundError
from store.models import FundFlow, Waybill
from supervision import geofeatures
from supervision.waybills import service
from supervision.waybills.service import FundFlowFilter, WaybillFilter

__all__ = ["router"]

router = APIRouter(tags=["waybills and fund flows (运单, 资金流水单)"])
WAYBILL_COLUMNS = ("id", "operatorId", "shippingNoteNumber", "serialNumber", "version", "despatchAt", "receiptAt",
                   "loadingDivisionCode", "receiptDivisionCode", "carrier", "totalAmount", "totalWeightKg",
                   "receivedAt")
FUND_FLOW_COLUMNS = ("id", "operatorId", "documentNumber", "version", "sendToProAt", "vehicleNumber", "plateColor",
                     "totalPaid", "receivedAt")
From = Annotated[dt.date | None, Query(alias="from", description="first Beijing day")]
To = Annotated[dt.date | None, Query(alias="to", description="last Beijing day (included)")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0)]


def _waybill_row(w: Waybill) -> dict[str, Any]:
    return {"id": w.id, "operatorId": w.operator_id, "shippingNoteNumber": w.shipping_note_number,
            "serialNumber": w.serial_number, "version": w.version, "despatchAt": w.despatch_at,
            "receiptAt": w.receipt_at, "loadingDivisionCode": w.loading_division_code,
            "receiptDivisionCode": w.receipt_division_code, "carrier": w.carrier, "totalAmount": str(w.total_amount),
            "totalWeightKg": None if w.total_weight_kg is None else str(w.total_weight_kg),
            "receivedAt": w.received_at}


def _fund_flow_row(f: FundFlow) -> dict[str, Any]:
    return {"id": f.id, "operatorId": f.operator_id, "documentNumber": f.document_number, "version": f.version,
            "sendToProAt": f.send_to_pro_at, "vehicleNumber": f.vehicle_number, "plateColor": f.plate_color,
            "totalPaid": str(f.total_paid), "receivedAt": f.received_at}


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _found(detail: dict[str, Any] | None, message: str) -> dict[str, Any]:
    if detail is None:  # unknown and out of scope answer alike
        raise NotFoundError(message)
    return detail


def _answer(p, row, columns, filename: str, format: str) -> Any:
    items = [row(x) for x in p.items]
    if format == "csv":
        return csv_response(items, columns, filename)
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": items}


@router.get("/waybills", summary="Waybills in your scope (format=csv for a download)", **docs.WAYBILLS)
def list_waybills(
    db: SessionDep, scope: ScopeDep, operator_id: int | None = None, shipping_note_number: str | None = None,
    vehicle_number: str | None = None,
    division: Annotated[str | None, Query(description="leading digits of the operator's division")] = None,
    loading_division: str | None = None, receipt_division: str | None = None, date_from: From = None,
    date_to: To = None, sort: Annotated[str, Query(description=f"one of {sorted(service.WAYBILL_SORTS)}")] =
    "-despatchAt", limit: Limit = 100, offset: Offset = 0,
    format: Annotated[Literal["json", "csv", "geojson", "geoparquet"], Query(
        description="json, csv (UTF-8 with BOM), geojson or geoparquet: each waybill a line loading → unloading "
                    "place 每张运单一条装货地→卸货地连线")] = "json",
) -> Any:
    f = WaybillFilter(operator_id=operator_id, shipping_note_number=shipping_note_number,
                      vehicle_number=vehicle_number, division=division, loading_division=loading_division,
                      receipt_division=receipt_division, date_from=date_from, date_to=date_to)
    p = service.list_waybills(db_session=db, scope=scope, filters=f, sort=sort, limit=limit, offset=offset)
    if format in ("geojson", "geoparquet"):
        lines = geofeatures.waybill_lines(db, [w.id for w in p.items])
        return features_response((geofeatures.feature(lines.get(w.id), _waybill_row(w)) for w in p.items),
                                 format, "waybills")
    return _answer(p, _waybill_row, WAYBILL_COLUMNS, "waybills.csv", format)


@router.get("/waybills/{waybill_id}", summary="A waybill with vehicles, drivers, goods, places, fund flows, "
                                               "verdicts and anomalies", **docs.WAYBILL)
def get_waybill(waybill_id: int, db: SessionDep, scope: ScopeDep, request: Request) -> dict[str, Any]:
    return _found(service.waybill_detail(db_session=db, scope=scope, waybill_id=waybill_id, ip=_ip(request)),
                  f"no waybill {waybill_id}")


@router.get("/fund-flows", summary="Fund flows in your scope (format=csv for a download)", **docs.FUND_FLOWS)
def list_fund_flows(
    db: SessionDep, scope: ScopeDep, operator_id: int | None = None, document_number: str | None = None,
    vehicle_number: str | None = None, shipping_note_number: str | None = None, date_from: From = None,
    date_to: To = None, sort: Annotated[str, Query(description=f"one of {sorted(service.FUND_FLOW_SORTS)}")] =
    "-sendToProAt", limit: Limit = 100, offset: Offset = 0, format: Literal["json", "csv"] = "json",
) -> Any:
    f = FundFlowFilter(operator_id=operator_id, document_number=document_number, vehicle_number=vehicle_number,
                       shipping_note_number=shipping_note_number, date_from=date_from, date_to=date_to)
    p = service.list_fund_flows(db_session=db, scope=scope, filters=f, sort=sort, limit=limit, offset=offset)
    return _answer(p, _fund_flow_row, FUND_FLOW_COLUMNS, "fund-flows.csv", format)


@router.get("/fund-flows/{fund_flow_id}", summary="A fund flow with its payments and the waybills it pays",
            **docs.FUND_FLOW)
def get_fund_flow(fund_flow_id: int, db: SessionDep, scope: ScopeDep, request: Request) -> dict[str, Any]:
    return _found(service.fund_flow_detail(db_session=db, scope=scope, fund_flow_id=fund_flow_id, ip=_ip(request)),
                  f"no fund flow {fund_flow_id}")
