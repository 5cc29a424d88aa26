"""OpenAPI helpers shared by the routes: a 200 answer's example, written once per route next to it."""

from __future__ import annotations

from typing import Any

__all__ = ["example"]


def example(value: Any, *, csv: str | None = None, geo: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route whose 200 answer looks like ``value`` (JSON), optionally also a CSV sample and a
    GeoJSON / GeoParquet download (the ``format=`` switch of the list routes)."""
    content: dict[str, Any] = {"application/json": {"example": value}}
    if csv is not None:
        content["text/csv"] = {"example": csv}
    if geo:
        content["application/geo+json"] = {"example": {"type": "FeatureCollection", "features": []}}
        content["application/vnd.apache.parquet"] = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": "OK", "content": content}}


def doc(zh: str, en: str, value: Any, **kw: Any) -> dict[str, Any]:
    """``description=`` (Chinese, then English) and ``responses=`` (the 200 example) of a route, as keywords."""
    return {"description": f"{zh}\n\n{en}", "responses": example(value, **kw)}


_PAGE = {"total": 1, "limit": 100, "offset": 0}
_T = "2026-10-01T00:00:00Z"
_WAYBILL_ROW = {"id": 5123, "operatorId": 3, "shippingNoteNumber": "YD20261001000123", "serialNumber": "0000",
                "version": 1, "despatchAt": _T, "receiptAt": "2026-10-01T09:00:00Z", "loadingDivisionCode": "320583",
                "receiptDivisionCode": "340104", "carrier": "安徽某某网络货运有限公司", "totalAmount": "3500.000",
                "totalWeightKg": "18000.000", "receivedAt": "2026-10-01T10:00:05Z"}
_FUND_FLOW_ROW = {"id": 77, "operatorId": 3, "documentNumber": "ZJ20261001000045", "version": 1,
                  "sendToProAt": "2026-10-01T10:00:00Z", "vehicleNumber": "皖A12345", "plateColor": "2",
                  "totalPaid": "3500.000", "receivedAt": "2026-10-01T10:00:07Z"}
_ANOMALY_ROW = {"id": 901, "code": "MATCH_AMOUNT", "nameZh": "运单与资金流水金额不符", "nameEn": "amount mismatch",
                "group": "MATCH", "groupZh": "单证匹配异常", "severity": "warning", "status": "open",
                "operatorId": 3, "documentKind": "waybill", "documentId": 5123,
                "documentKey": "3:YD20261001000123:0000", "detectedAt": _T, "resolvedAt": None,
                "reasonZh": "运单金额 3500.000 元，资金流水合计 3000.000 元",
                "reasonEn": "waybill amount 3500.000, fund flows total 3000.000"}
_AUDIT_ROW = {"id": 4411, "at": _T, "userId": 1, "username": "admin", "role": "admin",
              "action": "read_personal_data", "target": "driver:9", "ip": "127.0.0.1", "outcome": "ok",
              "detail": None, "chainSeq": 4411}

WAYBILLS = doc(
    "电子运单列表（本人权限范围内，仅生产数据）：按经营者、运单号、车牌、辖区、装卸货地区划、发车日期筛选，可排序、分页；"
    "`format=csv` 下载带 BOM 的 UTF-8 CSV，`format=geojson|geoparquet` 下载地图数据（每张运单一条装货地→卸货地连线，"
    "属性与列表行相同）。",
    "Waybills in your scope (production data only), by operator, number, plate, division, loading / unloading "
    "division and despatch day, sorted and paged. `format=csv`: UTF-8 CSV with BOM; `format=geojson|geoparquet`: "
    "each waybill a LineString loading → unloading place, properties = the list row.",
    _PAGE | {"items": [_WAYBILL_ROW]}, csv="\ufeffid,operatorId,shippingNoteNumber,…\r\n5123,3,YD20261001000123,…\r\n",
    geo=True)
WAYBILL = doc(
    "单张运单：车辆、驾驶员、货物、装卸地点（坐标）、资金流水、核验结论与异常；无个人信息权限的角色看到打码的证件号，"
    "明文读取记入审计日志；范围外与不存在同样返回 404。",
    "One waybill with its vehicles, drivers, goods, places (coordinates), fund flows, verdicts and anomalies. ID "
    "numbers are masked for roles without personal data; a clear read is audited; out of scope answers 404.",
    _WAYBILL_ROW | {"consignor": "昆山某某精密机械有限公司", "consignee": "王五", "actualCarrierId": "9134********AB1X",
                    "vehicles": [{"seq": 0, "vehicleNumber": "皖A12345", "plateColor": "2", "vehicleId": 17,
                                  "loading": {"place": "昆山市玉山镇", "divisionCode": "320583", "lon": 120.98,
                                              "lat": 31.39},
                                  "drivers": [{"name": "张三", "drivingLicense": "3401**********0013",
                                               "driverId": 9}],
                                  "verdict": "consistent", "fired": []}],
                    "fundFlows": [{"id": 77, "documentNumber": "ZJ20261001000045", "amount": "3500.000"}],
                    "anomalies": []})
FUND_FLOWS = doc(
    "资金流水单列表（本人权限范围内）：按经营者、单号、车牌、所付运单号、日期筛选，可排序、分页；`format=csv` 下载。",
    "Fund flows in your scope, by operator, document number, plate, paid waybill number and day; sorted, paged; "
    "`format=csv` for a download.",
    _PAGE | {"items": [_FUND_FLOW_ROW]}, csv="\ufeffid,operatorId,documentNumber,…\r\n77,3,ZJ20261001000045,…\r\n")
FUND_FLOW = doc(
    "单张资金流水：支付明细（银行账号按权限打码）及所付运单（双向关联）；范围外返回 404。",
    "One fund flow with its payments (bank accounts masked by role) and the waybills it pays, linked both ways; "
    "out of scope answers 404.",
    _FUND_FLOW_ROW | {"waybills": [{"shippingNoteNumber": "YD20261001000123", "serialNumber": "0000",
                                    "amount": "3500.000", "waybillId": 5123}],
                      "payments": [{"seq": 0, "paymentMeansCode": "32", "recipient": "张三",
                                    "receiptAccount": "6222***********5678", "amount": "3500.000"}]})
ANOMALIES = doc(
    "异常信息列表（本人权限范围内）：按异常代码、类别、经营者、单证、辖区、状态、严重程度、发现日期筛选，可排序、分页；"
    "`format=csv` 下载，`format=geojson|geoparquet` 输出有位置的异常（点：证据中的坐标，或所涉运单的装货地；无位置者不输出）。",
    "Anomalies in your scope by code, group, operator, document, division, status, severity and detection day; "
    "sorted, paged; `format=csv` for a download; `format=geojson|geoparquet`: the anomalies that have a location "
    "(a point: the evidence's coordinates, or the loading place of the waybill concerned; the others are left out).",
    _PAGE | {"items": [_ANOMALY_ROW]}, csv="\ufeffid,code,nameZh,…\r\n901,MATCH_AMOUNT,运单与资金流水金额不符,…\r\n",
    geo=True)
ANOMALY_SUMMARY = doc(
    "符合条件的异常按类别、代码、经营者计数（用于图表）。",
    "Counts of the matching anomalies by group, code and operator (for charts beside the list).",
    {"byGroup": {"MATCH": 12, "TRACK": 4}, "byCode": {"MATCH_AMOUNT": 9, "TRACK_MISSING": 4, "MATCH_PARTY": 3},
     "byOperator": {"3": 10, "5": 6}})
ANOMALY = doc(
    "单条异常及其证据（比较的数值、涉及的单证）；范围外返回 404。",
    "One anomaly with its evidence (the numbers compared, the documents concerned); out of scope answers 404.",
    _ANOMALY_ROW | {"evidence": {"numbers": {"waybill": "3500.000", "fundFlows": "3000.000"}}})
AUDIT = doc(
    "审计日志（仅管理员），最新在前：按动作、用户名、对象、结果、时间筛选；`format=csv` 下载带 BOM 的 CSV。",
    "The audit log (admin only), newest first, by action, username, target, outcome and time; `format=csv`: "
    "UTF-8 CSV with BOM.",
    _PAGE | {"items": [_AUDIT_ROW]}, csv="\ufeffid,at,userId,username,…\r\n4411,2026-10-01T00:00:00+00:00,1,admin,…\r\n")
AUDIT_VERIFY = doc(
    "重新计算审计日志的 SM3 哈希链（仅管理员）：指出第一条被修改或删除的记录。",
    "Recompute the audit log's SM3 hash chain (admin): names the first edited or deleted row.",
    {"intact": True, "rows": 4411, "brokenAt": None, "reason": None})
