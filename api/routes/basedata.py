"""``/api/v1/operators``, ``/vehicles``, ``/drivers`` (B1): base data in your scope, each with its details; vehicles
and drivers with their version history, the platforms that report them and their recent waybills."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from api.deps import ScopeDep, SessionDep
from api.export import csv_response
from api.openapi import doc, example
from core.errors import NotFoundError
from supervision.basedata import drivers, operators, vehicles
from supervision.basedata.drivers import DriverFilter
from supervision.basedata.vehicles import VehicleFilter

__all__ = ["router"]

router = APIRouter(tags=["base data (基础信息)"])
OPERATOR_COLUMNS = ("id", "usci", "name", "permitNumber", "divisionCode", "contactPerson", "telephone", "address",
                    "sandbox")
VEHICLE_COLUMNS = ("id", "vehicleNumber", "plateColor", "vehicleType", "heavy", "owner", "useCharacter", "vin",
                   "issuingOrganizations", "registerDate", "issueDate", "vehicleEnergyType", "vehicleTonnage",
                   "grossMass", "roadTransportCertificateNumber", "trailerVehiclePlateNumber", "remark", "operatorId",
                   "version", "updatedAt")
DRIVER_COLUMNS = ("id", "name", "drivingLicense", "vehicleClass", "issuingOrganizations", "validPeriodFrom",
                  "validPeriodTo", "qualificationCertificate", "telephone", "remark", "operatorId", "version",
                  "updatedAt")
Limit = Annotated[int, Query(ge=1, le=10_000, description="page size 每页条数")]
Offset = Annotated[int, Query(ge=0, description="rows to skip 跳过条数")]
OperatorId = Annotated[int | None, Query(description="reported by this platform 上报平台 (operator id)")]
Division = Annotated[str | None, Query(description="reporting platform's division, leading digits 行政区划代码前缀")]

_OPERATOR = {"id": 3, "usci": "91340104MA2N0AB1X1", "name": "安徽某某网络货运有限公司",
             "permitNumber": "皖交运管许可合字340100000001号", "divisionCode": "340104", "contactPerson": "李四",
             "telephone": "138****8000", "address": "合肥市蜀山区某某路1号", "sandbox": False}
_VEHICLE = {"id": 17, "vehicleNumber": "皖A12345", "plateColor": "2", "vehicleType": "H12", "heavy": True,
            "owner": "合肥某某运输有限公司", "useCharacter": "货运", "vin": "LFWSRXSJ1KAF12345",
            "issuingOrganizations": "合肥市公安局交通警察支队", "registerDate": "2019-06-12", "issueDate": "2019-06-12",
            "vehicleEnergyType": "B", "vehicleTonnage": "17.50", "grossMass": "31.00",
            "roadTransportCertificateNumber": "340104123456", "trailerVehiclePlateNumber": "", "remark": "",
            "operatorId": 3, "version": 2, "updatedAt": "2026-10-02T01:30:00Z"}
_DRIVER = {"id": 9, "name": "张三", "drivingLicense": "3401**********0013", "vehicleClass": "A2E",
           "issuingOrganizations": "合肥市公安局交通警察支队", "validPeriodFrom": "2018-01-01",
           "validPeriodTo": "2028-01-01", "qualificationCertificate": "3401**********0013",
           "telephone": "138****8000", "remark": "", "operatorId": 3, "version": 1,
           "updatedAt": "2026-10-02T01:30:00Z"}
_REPORTS = [{"operatorId": 3, "operatorName": "安徽某某网络货运有限公司", "version": 2,
             "firstReportedAt": "2026-10-01T00:10:00Z", "lastReportedAt": "2026-10-02T01:30:00Z", "messageId": 812}]
_WAYBILLS = [{"id": 5123, "shippingNoteNumber": "YD20261001000123", "serialNumber": "0000", "operatorId": 3,
              "despatchAt": "2026-10-01T00:00:00Z", "receiptAt": "2026-10-01T09:00:00Z"}]


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _page(p, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": items}


@router.get("/operators", summary="Operators (网络货运经营者) in your scope (format=csv for a download)", **doc(
    "网络货运经营者列表：县、市监管人员看到本辖区注册的经营者，经营者只看到自己，省级与管理员看到全部；联系电话按权限打码；"
    "`format=csv` 下载。",
    "Operators in your scope: a county or city those registered in its division, an operator itself, the province "
    "and admin all; the contact phone masked by role; `format=csv` for a download.",
    {"total": 1, "limit": 100, "offset": 0, "items": [_OPERATOR]},
    csv="\ufeffid,usci,name,…\r\n3,91340104MA2N0AB1X1,安徽某某网络货运有限公司,…\r\n"))
def list_operators(
    db: SessionDep, scope: ScopeDep,
    division: Annotated[str | None, Query(description="leading digits of the registered division code")] = None,
    name: Annotated[str | None, Query(description="part of the name")] = None,
    include_sandbox: bool = False, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0, format: Literal["json", "csv"] = "json",
) -> Any:
    p = operators.list_operators(db_session=db, scope=scope, division=division, name=name,
                                 include_sandbox=include_sandbox, limit=limit, offset=offset)
    items = [operators.row(op, scope) for op in p.items]
    if format == "csv":
        return csv_response(items, OPERATOR_COLUMNS, "operators.csv")
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": items}


@router.get("/operators/{operator_id}", summary="One operator with its exchange accounts and document counts", **doc(
    "单个经营者：交换账号（测试/生产）、运单与资金流水数量、未处理异常数；范围外返回 404。",
    "One operator with its exchange accounts (sandbox or production), its waybill and fund-flow counts and open "
    "anomalies; out of scope answers 404.",
    _OPERATOR | {"accounts": [{"userName": "wlhy91340104MA2N0AB1X1", "status": "active", "mode": "production"}],
                 "waybills": 1200, "fundFlows": 1180, "openAnomalies": 7}))
def get_operator(operator_id: int, db: SessionDep, scope: ScopeDep) -> dict[str, Any]:
    out = operators.get_operator(db_session=db, scope=scope, operator_id=operator_id)
    if out is None:
        raise NotFoundError(f"no operator {operator_id}")
    return out


@router.get(
    "/vehicles", summary="Vehicles (车辆) in your scope (format=csv for a download)",
    description="车辆基本信息列表：县、市监管人员看到本辖区平台上报的车辆，经营者只看到本平台上报的车辆及本平台上报的字段，"
                "省级与管理员看到全部；分析人员无权查看单条记录。`format=csv` 下载 UTF-8（带 BOM）CSV。\n\n"
                "Vehicles visible through the platforms' reports: a county or city sees those reported by platforms "
                "registered in its division, an operator only those it reported itself (and only its own report's "
                "fields), the province and admin all; analysts are refused (403). `heavy`: gross mass ≥ 12 t or a "
                "tractor (BeiDou-tracked). `format=csv`: UTF-8 CSV with BOM.",
    responses=example({"total": 1, "limit": 100, "offset": 0, "items": [_VEHICLE]},
                      csv="\ufeffid,vehicleNumber,plateColor,…\r\n17,皖A12345,2,…\r\n"),
)
def list_vehicles(
    db: SessionDep, scope: ScopeDep,
    vehicle_number: Annotated[str | None, Query(description="leading characters of the plate 车牌号（前缀）")] = None,
    plate_color: Annotated[str | None, Query(description="plate colour code 车牌颜色代码 (1 blue, 2 yellow, …)")] = None,
    operator_id: OperatorId = None, division: Division = None,
    vehicle_type: Annotated[str | None, Query(description="vehicle type code prefix 车辆类型代码（前缀）, e.g. H1")] = None,
    heavy: Annotated[bool | None, Query(description="heavy vehicles only (true) or light only (false) 重型车")] = None,
    sort: Annotated[str, Query(description=f"one of {sorted(vehicles.VEHICLE_SORTS)}; prefix - for descending")] =
    "vehicleNumber", limit: Limit = 100, offset: Offset = 0, format: Literal["json", "csv"] = "json",
) -> Any:
    f = VehicleFilter(vehicle_number=vehicle_number, plate_color=plate_color, operator_id=operator_id,
                      division=division, vehicle_type=vehicle_type, heavy=heavy)
    p = vehicles.list_vehicles(db_session=db, scope=scope, filters=f, sort=sort, limit=limit, offset=offset)
    items = [vehicles.row(r) for r in p.items]
    if format == "csv":
        return csv_response(items, VEHICLE_COLUMNS, "vehicles.csv")
    return _page(p, items)


@router.get(
    "/vehicles/{vehicle_id}", summary="One vehicle with its versions, reporting platforms and recent waybills",
    description="单车详情：当前记录、历次版本、上报平台（首次/最近上报时间、版本）及近期运单。不在权限范围内与不存在同样返回 404。\n\n"
                "The vehicle as your scope sees it, every version of the reports you may see, which platforms "
                "report it (first and last reported, version) and its recent waybills in your scope. Out of scope "
                "answers 404, like unknown.",
    responses=example(_VEHICLE | {"reports": _REPORTS, "history": [
        {"operatorId": 3, "version": 2, "current": True, "receivedAt": "2026-10-02T01:30:00Z", "supersededAt": None,
         "messageId": 812, "note": None, "payload": {"vehicleNumber": "皖A12345", "grossMass": "31.00"}}],
        "waybillCount": 1, "recentWaybills": _WAYBILLS}),
)
def get_vehicle(vehicle_id: int, db: SessionDep, scope: ScopeDep) -> dict[str, Any]:
    out = vehicles.get_vehicle(db_session=db, scope=scope, vehicle_id=vehicle_id)
    if out is None:  # unknown and out of scope answer alike
        raise NotFoundError(f"no vehicle {vehicle_id}")
    return out


@router.get(
    "/drivers", summary="Drivers (驾驶员) in your scope (format=csv for a download)",
    description="驾驶员基本信息列表：范围规则同车辆。身份证号、从业资格证号、手机号对无个人信息权限的角色打码（JSON 与 CSV 均如此）；"
                "`id_number` 按完整身份证号精确查找（打码角色亦可查找）。明文读取记入审计日志。\n\n"
                "Drivers, scoped like vehicles. ID numbers, qualification certificates and phones are masked "
                "(`3401**********0013`) for roles without personal data, in JSON and CSV alike; `id_number` finds a "
                "driver by the full ID number even for those roles. A page shown in clear is an audit row.",
    responses=example({"total": 1, "limit": 100, "offset": 0, "items": [_DRIVER]},
                      csv="\ufeffid,name,drivingLicense,…\r\n9,张三,3401**********0013,…\r\n"),
)
def list_drivers(
    db: SessionDep, scope: ScopeDep, request: Request,
    name: Annotated[str | None, Query(description="part of the name 姓名（包含）")] = None,
    id_number: Annotated[str | None, Query(description="the full ID number 完整身份证号 (drivingLicense)")] = None,
    operator_id: OperatorId = None, division: Division = None,
    vehicle_class: Annotated[str | None, Query(description="licence class 准驾车型, e.g. A2")] = None,
    sort: Annotated[str, Query(description=f"one of {sorted(drivers.DRIVER_SORTS)}; prefix - for descending")] =
    "name", limit: Limit = 100, offset: Offset = 0, format: Literal["json", "csv"] = "json",
) -> Any:
    f = DriverFilter(name=name, id_number=id_number, operator_id=operator_id, division=division,
                     vehicle_class=vehicle_class)
    p = drivers.list_drivers(db_session=db, scope=scope, filters=f, sort=sort, limit=limit, offset=offset)
    drivers.audit_list(db, scope, p.items, ip=_ip(request))
    items = [drivers.row(r, scope) for r in p.items]
    if format == "csv":
        return csv_response(items, DRIVER_COLUMNS, "drivers.csv")
    return _page(p, items)


@router.get(
    "/drivers/{driver_id}", summary="One driver with their versions, reporting platforms and recent waybills",
    description="驾驶员详情：当前记录、历次版本（个人信息同样打码）、上报平台及近期运单；明文读取记入审计日志；范围外返回 404。\n\n"
                "The driver as your scope sees them, every visible version (personal data masked the same way), the "
                "reporting platforms and recent waybills; a clear read is audited; out of scope answers 404.",
    responses=example(_DRIVER | {"reports": _REPORTS, "history": [
        {"operatorId": 3, "version": 1, "current": True, "receivedAt": "2026-10-02T01:30:00Z", "supersededAt": None,
         "messageId": 813, "note": None, "payload": {"driverName": "张三", "drivingLicense": "3401**********0013"}}],
        "waybillCount": 1, "recentWaybills": [_WAYBILLS[0] | {"vehicleNumber": "皖A12345"}]}),
)
def get_driver(driver_id: int, db: SessionDep, scope: ScopeDep, request: Request) -> dict[str, Any]:
    out = drivers.get_driver(db_session=db, scope=scope, driver_id=driver_id, ip=_ip(request))
    if out is None:
        raise NotFoundError(f"no driver {driver_id}")
    return out
