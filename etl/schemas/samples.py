"""Valid example payloads of the five exchange types, as decoded JSON objects (wire keys).

For platform engineers reading the spec, for tests and for benchmarks.

Every function returns a fresh object, so a test may mutate it. Identifiers carry correct check
characters (GB 32100 / GB 11643) and division codes exist in the gazetteer.
"""

from __future__ import annotations

import copy
import datetime as dt

__all__ = [
    "CARRIER_USCI",
    "CONSIGNEE_ID_NUMBER",
    "CONSIGNOR_USCI",
    "DRIVER_ID_NUMBER",
    "PLATFORM_USCI",
    "SAMPLES",
    "driver",
    "fund_flow",
    "operator",
    "position_batch",
    "vehicle",
    "waybill",
]

PLATFORM_USCI = "91350100M000100Y43"
CARRIER_USCI = "91340104MA2N0AB1X1"
CONSIGNOR_USCI = "91320583MA1MXYW7QA"
DRIVER_ID_NUMBER = "340104199003070013"
CONSIGNEE_ID_NUMBER = "320583198511151230"

_WAYBILL = {
    "originalDocumentNumber": "WT20240315000123",
    "shippingNoteNumber": "YD20240315000123",
    "serialNumber": "0000",
    "vehicleAmount": 1,
    "transportTypeCode": "1",
    "sendToProDateTime": "20240316093000",
    "carrier": "安徽某某网络货运有限公司",
    "unifiedSocialCreditIdentifier": PLATFORM_USCI,
    "permitNumber": "皖交运管许可合字340100000001号",
    "consignmentDateTime": "20240315080000",
    "businessTypeCode": "1002996",
    "despatchActualDateTime": "20240315100000",
    "goodsReceiptDateTime": "20240315180000",
    "totalMonetaryAmount": "3500.000",
    "remark": "",
    "consignorInfo": {
        "consignor": "昆山某某精密机械有限公司",
        "consignorId": CONSIGNOR_USCI,
        "placeOfLoading": "江苏省苏州市昆山市玉山镇某某路88号",
        "countrySubdivisionCode": "320583",
    },
    "consigneeInfo": {
        "consignee": "王五",
        "consigneeId": CONSIGNEE_ID_NUMBER,
        "goodsReceiptPlace": "安徽省合肥市蜀山区某某路1号",
        "countrySubdivisionCode": "340104000000",
    },
    "vehicleInfo": [
        {
            "vehiclePlateColorCode": "2",
            "vehicleNumber": "皖A12345",
            "driver": [{"driverName": "张三", "drivingLicense": DRIVER_ID_NUMBER}],
            "goodsInfo": [
                {
                    "descriptionOfGoods": "机床配件",
                    "cargoTypeClassificationCode": "1200",
                    "goodsItemGrossWeight": "18000.000",
                    "cube": 40.5,
                    "totalNumberOfPackages": 12,
                }
            ],
        }
    ],
    "actualCarrierInfo": {
        "actualCarrierName": "合肥某某运输有限公司",
        "actualCarrierBusinessLicense": "皖交运管许可合字340104000321号",
        "actualCarrierId": CARRIER_USCI,
    },
    "insuranceInformation": {"policyNumber": "none", "insuranceCompanyCode": "none"},
    "platformExtension": {"ignored": True},
}

_FUND_FLOW = {
    "documentNumber": "ZJ20240316000045",
    "sendToProDateTime": "20240316100000",
    "carrier": "合肥某某运输有限公司",
    "actualCarrierId": CARRIER_USCI,
    "vehicleNumber": "皖A12345",
    "vehiclePlateColorCode": "2",
    "shippingNoteList": [
        {"shippingNoteNumber": "YD20240315000123", "serialNumber": "0000", "totalMonetaryAmount": "3500.000"}
    ],
    "financiallist": [
        {
            "paymentMeansCode": "32",
            "recipient": "张三",
            "receiptAccount": "6222020200112345678",
            "bankCode": "ICBK",
            "sequenceCode": "2024031610000012345",
            "monetaryAmount": 3500,
            "dateTime": "20240316095500",
        }
    ],
    "remark": "运费结算",
}

_VEHICLE = {
    "vehicleNumber": "皖A12345",
    "vehiclePlateColorCode": "2",
    "vehicleType": "H12",
    "owner": "合肥某某运输有限公司",
    "useCharacter": "货运",
    "vin": "LFWSRXSJ1KAF12345",
    "issuingOrganizations": "合肥市公安局交通警察支队",
    "registerDate": "20190612",
    "issueDate": "20190612",
    "vehicleEnergyType": "B",
    "vehicleTonnage": "17.50",
    "grossMass": "31.00",
    "roadTransportCertificateNumber": "340104123456",
    "trailerVehiclePlateNumber": "",
    "remark": "",
}

_DRIVER = {
    "driverName": "张三",
    "drivingLicense": DRIVER_ID_NUMBER,
    "vehicleClass": "A2E",
    "issuingOrganizations": "合肥市公安局交通警察支队",
    "validPeriodFrom": "20180101",
    "validPeriodTo": "20280101",
    "qualificationCertificate": "340104199003070013",
    "telephone": "13800138000",
    "remark": "",
}


def operator() -> dict:
    """The platform operator of these samples, as a registration record (access application, demo operators)."""
    return {
        "unifiedSocialCreditIdentifier": PLATFORM_USCI, "name": "安徽某某网络货运有限公司",
        "permitNumber": "皖交运管许可合字340100000001号", "countrySubdivisionCode": "340104", "userName": "wlhy-test",
    }


def waybill() -> dict:
    """A one-vehicle, unsegmented waybill (serialNumber 0000) from 昆山 to 合肥."""
    return copy.deepcopy(_WAYBILL)


def fund_flow() -> dict:
    """The fund flow paying that waybill by bank transfer."""
    return copy.deepcopy(_FUND_FLOW)


def vehicle() -> dict:
    """A 31 t heavy box truck (H12)."""
    return copy.deepcopy(_VEHICLE)


def driver() -> dict:
    """Its driver (licence classes A2 + E)."""
    return copy.deepcopy(_DRIVER)


def position_batch(n: int = 3, *, recent: bool = False) -> dict:
    """A batch of `n` fixes, one a second from 2024-03-15 10:00:00 Beijing time, heading east near 昆山.

    ``recent=True``: the fixes end two minutes ago instead (what the exchange accepts from a platform: the last
    30 days only).
    """
    if recent:
        start = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0, tzinfo=None)
        start -= dt.timedelta(seconds=n + 120)
        stamps = [(start + dt.timedelta(seconds=i)).strftime("%Y%m%d%H%M%S") for i in range(n)]
    else:
        stamps = [f"20240315{10 + i // 60 // 60 % 14:02d}{i // 60 % 60:02d}{i % 60:02d}" for i in range(n)]
    locations = [
        {
            "dateTime": stamps[i],
            "longitude": 120.9764 + i * 1e-5,
            "latitude": 31.3876,
            "speed": 62.5,
            "direction": 90,
            "altitude": 30.0,
            "accuracy": 10.0,
        }
        for i in range(n)
    ]
    return {
        "vehicleNumber": "皖A12345",
        "vehiclePlateColorCode": "2",
        "driverName": "张三",
        "drivingLicense": DRIVER_ID_NUMBER,
        "shippingNoteInfos": [{"shippingNoteNumber": "YD20240315000123", "serialNumber": "0000"}],
        "event": "send",
        "coordinateSystem": "GCJ02",
        "locations": locations,
    }


#: ipcType → factory of a valid payload.
SAMPLES = {
    "WLHY_YD1001": waybill,
    "WLHY_ZJ1001": fund_flow,
    "WLHY_CL1001": vehicle,
    "WLHY_JSY1001": driver,
    "WLHY_WZ1001": position_batch,
}
