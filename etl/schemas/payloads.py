"""Pydantic models of the five exchange payloads (spec/EXCHANGE.md §2), keyed by their wire names.

Attributes are snake_case; each has an alias equal to the wire name as the spec spells it
(``financiallist``, ``vin``, ``consignorId``, ...). Either can be used to build a model; unknown keys
are ignored because platforms add extensions. Lengths, multiplicities and formats follow §2 of the
research notes; codes follow §3 (``etl.codes``). Date-times are Beijing time on the wire and become
tz-aware datetimes; money, weights, volumes and tonnages become ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, model_validator

from etl.schemas._fields import (
    choice,
    code,
    date_,
    datetime_,
    decimal_,
    division,
    float_,
    integer,
    pattern,
    raise_field_errors,
    text,
)
from etl.schemas._fields import (
    vehicle_class as licence_classes,
)
from etl.schemas.locations import LocationColumns, parse_locations

__all__ = [
    "COORDINATE_SYSTEMS",
    "EVENTS",
    "FIELD_NAMES_ZH",
    "LIGHT_VEHICLE_MAX_GROSS_MASS_T",
    "ActualCarrierInfo",
    "ConsigneeInfo",
    "ConsignorInfo",
    "Driver",
    "FinancialItem",
    "FundFlow",
    "GoodsInfo",
    "InsuranceInformation",
    "PositionBatch",
    "ShippingNoteInfo",
    "ShippingNoteRef",
    "Vehicle",
    "VehicleInfo",
    "Waybill",
    "WaybillDriver",
]

COORDINATE_SYSTEMS: tuple[str, ...] = ("WGS84", "CGCS2000", "GCJ02", "BD09")
EVENTS: tuple[str, ...] = ("start", "send", "pause", "restart", "stop")
#: Vehicles of at most this gross mass must also send owner, useCharacter, vin, ... (research §2.3).
LIGHT_VEHICLE_MAX_GROSS_MASS_T = Decimal("4.5")

#: Chinese name of each wire field, used in error messages (research notes §2).
FIELD_NAMES_ZH: dict[str, str] = {
    "originalDocumentNumber": "原始单号",
    "shippingNoteNumber": "运单号",
    "serialNumber": "分段分单号",
    "vehicleAmount": "运输总车辆数",
    "transportTypeCode": "运输组织类型代码",
    "sendToProDateTime": "上传时间",
    "carrier": "网络货运经营者名称",
    "unifiedSocialCreditIdentifier": "统一社会信用代码",
    "permitNumber": "道路运输经营许可证编号",
    "consignmentDateTime": "运单生成时间",
    "businessTypeCode": "业务类型代码",
    "despatchActualDateTime": "发货日期时间",
    "goodsReceiptDateTime": "收货日期时间",
    "totalMonetaryAmount": "运费金额",
    "remark": "备注",
    "consignorInfo": "托运人信息",
    "consignor": "托运人名称",
    "consignorId": "托运人证件号",
    "placeOfLoading": "装货地址",
    "countrySubdivisionCode": "行政区划代码",
    "consigneeInfo": "收货方信息",
    "consignee": "收货方名称",
    "consigneeId": "收货方证件号",
    "goodsReceiptPlace": "收货地址",
    "vehicleInfo": "车辆信息",
    "vehiclePlateColorCode": "车牌颜色代码",
    "vehicleNumber": "车辆牌照号",
    "loadingCountrySubdivisionCode": "装货地行政区划代码",
    "receiptCountrySubdivisionCode": "收货地行政区划代码",
    "loadingLongitude": "装货地经度",
    "loadingLatitude": "装货地纬度",
    "receiptLongitude": "收货地经度",
    "receiptLatitude": "收货地纬度",
    "coordinateSystem": "坐标系",
    "driver": "驾驶员",
    "driverName": "姓名",
    "drivingLicense": "身份证号",
    "goodsInfo": "货物信息",
    "descriptionOfGoods": "货物名称",
    "cargoTypeClassificationCode": "货物类型分类代码",
    "goodsItemGrossWeight": "货物项毛重",
    "cube": "体积",
    "totalNumberOfPackages": "总件数",
    "actualCarrierInfo": "实际承运人信息",
    "actualCarrierName": "实际承运人名称",
    "actualCarrierBusinessLicense": "实际承运人道路运输经营许可证号",
    "actualCarrierId": "实际承运人证件号",
    "insuranceInformation": "保险信息",
    "policyNumber": "保险单号",
    "insuranceCompanyCode": "保险公司代码",
    "documentNumber": "单证号",
    "shippingNoteList": "运单列表",
    "financiallist": "财务列表",
    "paymentMeansCode": "付款方式代码",
    "recipient": "收款方名称",
    "receiptAccount": "收款帐户信息",
    "bankCode": "收款方银行代码",
    "sequenceCode": "流水号",
    "monetaryAmount": "实际支付金额",
    "dateTime": "日期时间",
    "vehicleType": "车辆类型代码",
    "owner": "所有人",
    "useCharacter": "使用性质",
    "vin": "车辆识别代号",
    "issuingOrganizations": "发证机关",
    "registerDate": "注册日期",
    "issueDate": "发证日期",
    "vehicleEnergyType": "车辆能源类型",
    "vehicleTonnage": "核定载质量",
    "grossMass": "车辆总质量",
    "roadTransportCertificateNumber": "道路运输证号",
    "trailerVehiclePlateNumber": "挂车牌照号",
    "vehicleClass": "准驾车型",
    "validPeriodFrom": "驾驶证有效期自",
    "validPeriodTo": "驾驶证有效期至",
    "qualificationCertificate": "从业资格证号",
    "telephone": "手机号码",
    "shippingNoteInfos": "运单信息",
    "event": "事件",
    "locations": "位置列表",
    "longitude": "经度",
    "latitude": "纬度",
    "speed": "速度",
    "direction": "方向",
    "altitude": "海拔",
    "accuracy": "精度",
}

# Reusable field kinds (an..N text, codes, numbers with their unit and decimals).
_SERIAL = pattern(
    r"^[0-9]{4}$", "4 digits (vehicle sequence + segment sequence, 0000 = one vehicle)", max_len=4
)
_MONEY = decimal_(places=3, max_digits=18, unit="yuan", gt=Decimal(0))
_DATETIME = datetime_()
_OPT_DATETIME = datetime_(required=False)
_OPT_DATE = date_(required=False)
_PLATE_COLOR = code("plate_color", max_len=2)
_REMARK = text(256, required=False)
_ID18 = text(18, exact=True)

Text35 = Annotated[str, text(35)]


class _Payload(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", arbitrary_types_allowed=True)


# ---- WLHY_YD1001 waybill ------------------------------------------------------------------------------


class ConsignorInfo(_Payload):
    """托运人信息."""

    consignor: Annotated[str, text(512)] = Field(alias="consignor")
    consignor_id: Annotated[str, text(35)] = Field(alias="consignorId")
    place_of_loading: Annotated[str, text(256)] = Field(alias="placeOfLoading")
    country_subdivision_code: Annotated[str, division()] = Field(alias="countrySubdivisionCode")


class ConsigneeInfo(_Payload):
    """收货方信息 (``consigneeId`` is 0..1 in the enterprise spec)."""

    consignee: Annotated[str, text(512)] = Field(alias="consignee")
    consignee_id: Annotated[str | None, text(35, required=False)] = Field(None, alias="consigneeId")
    goods_receipt_place: Annotated[str, text(256)] = Field(alias="goodsReceiptPlace")
    country_subdivision_code: Annotated[str, division()] = Field(alias="countrySubdivisionCode")


class WaybillDriver(_Payload):
    """One ``vehicleInfo[].driver[]`` item."""

    driver_name: Annotated[str, text(30)] = Field(alias="driverName")
    driving_license: Annotated[str, _ID18] = Field(alias="drivingLicense")


class GoodsInfo(_Payload):
    """One ``vehicleInfo[].goodsInfo[]`` item; weight in kg, volume in m³."""

    description_of_goods: Annotated[str, text(512)] = Field(alias="descriptionOfGoods")
    cargo_type_classification_code: Annotated[str, code("cargo_type", max_len=4)] = Field(
        alias="cargoTypeClassificationCode"
    )
    goods_item_gross_weight_kg: Annotated[
        Decimal, decimal_(places=3, max_digits=14, unit="kg", gt=Decimal(0))
    ] = Field(alias="goodsItemGrossWeight")
    cube_m3: Annotated[
        Decimal | None, decimal_(places=4, max_digits=9, unit="m³", gt=Decimal(0), required=False)
    ] = Field(None, alias="cube")
    total_number_of_packages: Annotated[int | None, integer(max_digits=8, ge=1, required=False)] = Field(
        None, alias="totalNumberOfPackages"
    )


_LON = float_(lo=-180.0, hi=180.0, unit="degrees", required=False)
_LAT = float_(lo=-90.0, hi=90.0, unit="degrees", required=False)


class VehicleInfo(_Payload):
    """One ``vehicleInfo[]`` item, with the optional provincial geocoding extension."""

    vehicle_plate_color_code: Annotated[str, _PLATE_COLOR] = Field(alias="vehiclePlateColorCode")
    vehicle_number: Text35 = Field(alias="vehicleNumber")
    despatch_actual_date_time: Annotated[dt.datetime | None, _OPT_DATETIME] = Field(
        None, alias="despatchActualDateTime"
    )
    goods_receipt_date_time: Annotated[dt.datetime | None, _OPT_DATETIME] = Field(
        None, alias="goodsReceiptDateTime"
    )
    place_of_loading: Annotated[str | None, text(256, required=False)] = Field(None, alias="placeOfLoading")
    loading_country_subdivision_code: Annotated[str | None, division(required=False)] = Field(
        None, alias="loadingCountrySubdivisionCode"
    )
    goods_receipt_place: Annotated[str | None, text(256, required=False)] = Field(
        None, alias="goodsReceiptPlace"
    )
    receipt_country_subdivision_code: Annotated[str | None, division(required=False)] = Field(
        None, alias="receiptCountrySubdivisionCode"
    )
    driver: list[WaybillDriver] = Field(alias="driver", min_length=1)
    goods_info: list[GoodsInfo] = Field(alias="goodsInfo", min_length=1)
    loading_longitude: Annotated[float | None, _LON] = Field(None, alias="loadingLongitude")
    loading_latitude: Annotated[float | None, _LAT] = Field(None, alias="loadingLatitude")
    receipt_longitude: Annotated[float | None, _LON] = Field(None, alias="receiptLongitude")
    receipt_latitude: Annotated[float | None, _LAT] = Field(None, alias="receiptLatitude")
    coordinate_system: Annotated[str | None, choice(COORDINATE_SYSTEMS, required=False)] = Field(
        None, alias="coordinateSystem"
    )

    @model_validator(mode="after")
    def _check_coordinates(self) -> VehicleInfo:
        # A point is only usable as a pair with its datum; half a point or no datum would be misread.
        problems = []
        for lon_name, lat_name, lon, lat in (
            ("loadingLongitude", "loadingLatitude", self.loading_longitude, self.loading_latitude),
            ("receiptLongitude", "receiptLatitude", self.receipt_longitude, self.receipt_latitude),
        ):
            if (lon is None) != (lat is None):
                missing = lat_name if lat is None else lon_name
                given = lon_name if lat is None else lat_name
                problems.append((missing, "conditional", f"is required when {given} is given"))
        has_point = any(
            v is not None
            for v in (
                self.loading_longitude,
                self.loading_latitude,
                self.receipt_longitude,
                self.receipt_latitude,
            )
        )
        if has_point and self.coordinate_system is None:
            problems.append(("coordinateSystem", "conditional", "is required when coordinates are given"))
        raise_field_errors(problems)
        return self


class ActualCarrierInfo(_Payload):
    """实际承运人信息."""

    actual_carrier_name: Annotated[str, text(256)] = Field(alias="actualCarrierName")
    actual_carrier_business_license: Annotated[str, text(50)] = Field(alias="actualCarrierBusinessLicense")
    actual_carrier_id: Annotated[str, text(50)] = Field(alias="actualCarrierId")


class InsuranceInformation(_Payload):
    """保险信息 (``none`` / ``none`` when uninsured)."""

    policy_number: Annotated[str, text(30)] = Field(alias="policyNumber")
    insurance_company_code: Annotated[str, code("insurance_company", max_len=30)] = Field(
        alias="insuranceCompanyCode"
    )


#: Per-vehicle fields a segmented waybill (serialNumber not ending in "00") must carry.
_SEGMENT_FIELDS = (
    ("despatchActualDateTime", "despatch_actual_date_time"),
    ("goodsReceiptDateTime", "goods_receipt_date_time"),
    ("placeOfLoading", "place_of_loading"),
    ("loadingCountrySubdivisionCode", "loading_country_subdivision_code"),
    ("goodsReceiptPlace", "goods_receipt_place"),
    ("receiptCountrySubdivisionCode", "receipt_country_subdivision_code"),
)


class Waybill(_Payload):
    """WLHY_YD1001 electronic waybill (电子运单)."""

    original_document_number: Text35 = Field(alias="originalDocumentNumber")
    shipping_note_number: Annotated[str, text(20)] = Field(alias="shippingNoteNumber")
    serial_number: Annotated[str, _SERIAL] = Field(alias="serialNumber")
    vehicle_amount: Annotated[int, integer(max_digits=4, ge=1)] = Field(alias="vehicleAmount")
    transport_type_code: Annotated[str, code("transport_type", max_len=2)] = Field(alias="transportTypeCode")
    send_to_pro_date_time: Annotated[dt.datetime, _DATETIME] = Field(alias="sendToProDateTime")
    carrier: Annotated[str, text(512)] = Field(alias="carrier")
    unified_social_credit_identifier: Annotated[str, text(18, exact=True)] = Field(
        alias="unifiedSocialCreditIdentifier"
    )
    permit_number: Annotated[str, text(50)] = Field(alias="permitNumber")
    consignment_date_time: Annotated[dt.datetime, _DATETIME] = Field(alias="consignmentDateTime")
    business_type_code: Annotated[str, code("business_type", max_len=7)] = Field(alias="businessTypeCode")
    despatch_actual_date_time: Annotated[dt.datetime, _DATETIME] = Field(alias="despatchActualDateTime")
    goods_receipt_date_time: Annotated[dt.datetime, _DATETIME] = Field(alias="goodsReceiptDateTime")
    total_monetary_amount: Annotated[Decimal, _MONEY] = Field(alias="totalMonetaryAmount")
    remark: Annotated[str | None, _REMARK] = Field(None, alias="remark")
    consignor_info: ConsignorInfo = Field(alias="consignorInfo")
    consignee_info: ConsigneeInfo = Field(alias="consigneeInfo")
    vehicle_info: list[VehicleInfo] = Field(alias="vehicleInfo", min_length=1)
    actual_carrier_info: ActualCarrierInfo = Field(alias="actualCarrierInfo")
    insurance_information: InsuranceInformation = Field(alias="insuranceInformation")

    @property
    def is_segmented(self) -> bool:
        """True when the last two digits of serialNumber (the segment sequence) are not ``00``."""
        return self.serial_number[2:] != "00"

    def natural_key(self) -> tuple[str, str, str]:
        """Return ``(unifiedSocialCreditIdentifier, shippingNoteNumber, serialNumber)``."""
        return (self.unified_social_credit_identifier, self.shipping_note_number, self.serial_number)

    @model_validator(mode="after")
    def _check_cross_fields(self) -> Waybill:
        problems = []
        if self.vehicle_amount < len(self.vehicle_info):
            problems.append(
                (
                    "vehicleAmount",
                    "range",
                    f"must be at least the number of vehicleInfo items ({len(self.vehicle_info)}), "
                    f"got {self.vehicle_amount}",
                )
            )
        if self.is_segmented:
            for i, vehicle in enumerate(self.vehicle_info):
                for wire, attr in _SEGMENT_FIELDS:
                    if getattr(vehicle, attr) is None:
                        problems.append(
                            (
                                f"vehicleInfo[{i}].{wire}",
                                "conditional",
                                f"is required for a segmented waybill (serialNumber {self.serial_number})",
                            )
                        )
        raise_field_errors(problems)
        return self


# ---- WLHY_ZJ1001 fund flow ----------------------------------------------------------------------------


class ShippingNoteRef(_Payload):
    """One ``shippingNoteList[]`` item of a fund flow."""

    shipping_note_number: Annotated[str, text(20)] = Field(alias="shippingNoteNumber")
    serial_number: Annotated[str, _SERIAL] = Field(alias="serialNumber")
    total_monetary_amount: Annotated[Decimal, _MONEY] = Field(alias="totalMonetaryAmount")


class FinancialItem(_Payload):
    """One ``financiallist[]`` payment line.

    ``bankCode`` is checked for length only here: the shipped bank table is partial, so an unknown
    code is reported by ``validate_payload`` as a warning, not an error.
    """

    payment_means_code: Annotated[str, code("payment_means", max_len=3)] = Field(alias="paymentMeansCode")
    recipient: Annotated[str, text(512)] = Field(alias="recipient")
    receipt_account: Annotated[str, text(512)] = Field(alias="receiptAccount")
    bank_code: Annotated[str | None, text(11, required=False)] = Field(None, alias="bankCode")
    sequence_code: Annotated[str, text(50)] = Field(alias="sequenceCode")
    monetary_amount: Annotated[Decimal, _MONEY] = Field(alias="monetaryAmount")
    date_time: Annotated[dt.datetime, _DATETIME] = Field(alias="dateTime")


class FundFlow(_Payload):
    """WLHY_ZJ1001 fund-flow record (资金流水单); ``carrier`` is the actual carrier."""

    document_number: Text35 = Field(alias="documentNumber")
    send_to_pro_date_time: Annotated[dt.datetime, _DATETIME] = Field(alias="sendToProDateTime")
    carrier: Annotated[str, text(512)] = Field(alias="carrier")
    actual_carrier_id: Annotated[str, text(50)] = Field(alias="actualCarrierId")
    vehicle_number: Text35 = Field(alias="vehicleNumber")
    vehicle_plate_color_code: Annotated[str, _PLATE_COLOR] = Field(alias="vehiclePlateColorCode")
    shipping_note_list: list[ShippingNoteRef] = Field(alias="shippingNoteList", min_length=1)
    financiallist: list[FinancialItem] = Field(alias="financiallist", min_length=1)
    remark: Annotated[str | None, _REMARK] = Field(None, alias="remark")

    def natural_key(self) -> str:
        """Return ``documentNumber`` (unique per operator; the operator comes from the sending account)."""
        return self.document_number


# ---- WLHY_CL1001 vehicle ------------------------------------------------------------------------------

#: Fields required when grossMass ≤ 4.5 t (research §2.3, FJ Truck.php).
_LIGHT_VEHICLE_FIELDS = (
    ("owner", "owner"),
    ("useCharacter", "use_character"),
    ("vin", "vin"),
    ("issuingOrganizations", "issuing_organizations"),
    ("registerDate", "register_date"),
    ("issueDate", "issue_date"),
)


class Vehicle(_Payload):
    """WLHY_CL1001 vehicle record (车辆信息单); tonnages in tonnes.

    ``vehicleTonnage`` may be 0 (tractors have no rated load of their own); ``grossMass`` must be > 0.
    """

    vehicle_number: Text35 = Field(alias="vehicleNumber")
    vehicle_plate_color_code: Annotated[str, _PLATE_COLOR] = Field(alias="vehiclePlateColorCode")
    vehicle_type: Annotated[str, code("vehicle_type", max_len=3)] = Field(alias="vehicleType")
    owner: Annotated[str | None, text(128, required=False)] = Field(None, alias="owner")
    use_character: Annotated[str | None, text(20, required=False)] = Field(None, alias="useCharacter")
    vin: Annotated[str | None, text(32, required=False)] = Field(None, alias="vin")
    issuing_organizations: Annotated[str | None, text(128, required=False)] = Field(
        None, alias="issuingOrganizations"
    )
    register_date: Annotated[dt.date | None, _OPT_DATE] = Field(None, alias="registerDate")
    issue_date: Annotated[dt.date | None, _OPT_DATE] = Field(None, alias="issueDate")
    vehicle_energy_type: Annotated[str, code("energy_type", max_len=12)] = Field(alias="vehicleEnergyType")
    vehicle_tonnage_t: Annotated[Decimal, decimal_(places=2, max_digits=9, unit="t", ge=Decimal(0))] = Field(
        alias="vehicleTonnage"
    )
    gross_mass_t: Annotated[Decimal, decimal_(places=2, max_digits=9, unit="t", gt=Decimal(0))] = Field(
        alias="grossMass"
    )
    road_transport_certificate_number: Annotated[str, text(20)] = Field(
        alias="roadTransportCertificateNumber"
    )
    trailer_vehicle_plate_number: Annotated[str | None, text(35, required=False)] = Field(
        None, alias="trailerVehiclePlateNumber"
    )
    remark: Annotated[str | None, _REMARK] = Field(None, alias="remark")

    def natural_key(self) -> tuple[str, str]:
        """Return ``(vehicleNumber, vehiclePlateColorCode)``."""
        return (self.vehicle_number, self.vehicle_plate_color_code)

    @model_validator(mode="after")
    def _check_light_vehicle(self) -> Vehicle:
        if self.gross_mass_t <= LIGHT_VEHICLE_MAX_GROSS_MASS_T:
            raise_field_errors(
                (wire, "conditional", f"is required when grossMass ≤ 4.5 t (got {self.gross_mass_t} t)")
                for wire, attr in _LIGHT_VEHICLE_FIELDS
                if getattr(self, attr) is None
            )
        return self


# ---- WLHY_JSY1001 driver ------------------------------------------------------------------------------


class Driver(_Payload):
    """WLHY_JSY1001 driver record (驾驶员信息单)."""

    driver_name: Annotated[str, text(30)] = Field(alias="driverName")
    driving_license: Annotated[str, _ID18] = Field(alias="drivingLicense")
    vehicle_class: Annotated[str | None, licence_classes(max_len=20)] = Field(None, alias="vehicleClass")
    issuing_organizations: Annotated[str | None, text(128, required=False)] = Field(
        None, alias="issuingOrganizations"
    )
    valid_period_from: Annotated[dt.date | None, _OPT_DATE] = Field(None, alias="validPeriodFrom")
    valid_period_to: Annotated[dt.date | None, _OPT_DATE] = Field(None, alias="validPeriodTo")
    qualification_certificate: Annotated[str, text(19)] = Field(alias="qualificationCertificate")
    telephone: Annotated[str, text(18)] = Field(alias="telephone")
    remark: Annotated[str | None, _REMARK] = Field(None, alias="remark")

    def natural_key(self) -> str:
        """Return ``drivingLicense`` (the ID number)."""
        return self.driving_license


# ---- WLHY_WZ1001 positions ----------------------------------------------------------------------------


class ShippingNoteInfo(_Payload):
    """One ``shippingNoteInfos[]`` item: the waybill a batch of fixes belongs to."""

    shipping_note_number: Annotated[str, text(20)] = Field(alias="shippingNoteNumber")
    serial_number: Annotated[str, _SERIAL] = Field(alias="serialNumber")


def _check_locations(value: Any) -> LocationColumns:
    columns, problems = parse_locations(value)
    raise_field_errors(problems)
    return columns


class PositionBatch(_Payload):
    """WLHY_WZ1001 batch of 1..10,000 fixes of one vehicle (位置信息单).

    ``locations`` is held column-wise (:class:`~etl.schemas.locations.LocationColumns`), not as one
    object per fix; ``shippingNoteInfos`` may be empty (tracking outside a waybill).
    """

    vehicle_number: Text35 = Field(alias="vehicleNumber")
    vehicle_plate_color_code: Annotated[str, _PLATE_COLOR] = Field(alias="vehiclePlateColorCode")
    driver_name: Annotated[str | None, text(30, required=False)] = Field(None, alias="driverName")
    driving_license: Annotated[str | None, text(18, exact=True, required=False)] = Field(
        None, alias="drivingLicense"
    )
    shipping_note_infos: list[ShippingNoteInfo] = Field(default_factory=list, alias="shippingNoteInfos")
    event: Annotated[str, choice(EVENTS)] = Field(alias="event")
    coordinate_system: Annotated[str, choice(COORDINATE_SYSTEMS)] = Field(alias="coordinateSystem")
    locations: Annotated[LocationColumns, PlainValidator(_check_locations)] = Field(alias="locations")

    def columns(self) -> dict[str, np.ndarray]:
        """Return the fixes as ``{column name: array}`` (see ``etl.schemas.locations`` ``*_COL_NAME``)."""
        return self.locations.to_dict()
