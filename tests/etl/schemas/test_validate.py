"""validate_payload: every rule fails and passes with the exact wire path, plus the result's shape."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from etl.schemas import IPC_TYPES, FieldError, PayloadShapeError, samples, validate_payload

YD, ZJ, CL, JSY, WZ = "WLHY_YD1001", "WLHY_ZJ1001", "WLHY_CL1001", "WLHY_JSY1001", "WLHY_WZ1001"
DELETE = object()


def _set(doc: dict, path: str, value: object) -> dict:
    """Set (or with DELETE remove) the value at a wire path like ``vehicleInfo[0].driver[0].cube``."""
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    target = doc
    for part in parts[:-1]:
        target = target[part]
    if value is DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return doc


# (ipcType, wire path, bad value, rule, good value)
CASES = [
    # waybill
    (YD, "originalDocumentNumber", DELETE, "required", "WT1"),
    (YD, "originalDocumentNumber", "", "required", "WT1"),
    (YD, "originalDocumentNumber", "A" * 36, "length", "A" * 35),
    (YD, "originalDocumentNumber", 123, "type", "123"),
    (YD, "serialNumber", "01a0", "format", "0100"),
    (YD, "serialNumber", "00000", "length", "0000"),
    (YD, "vehicleAmount", "two", "format", "2"),
    (YD, "vehicleAmount", 0, "range", 1),
    (YD, "vehicleAmount", 10000, "length", 9999),
    (YD, "transportTypeCode", "9", "code", 1),
    (YD, "sendToProDateTime", "2024-03-16 09:30", "format", "20240316093000"),
    (YD, "sendToProDateTime", "20230229093000", "format", "20240229093000"),
    (YD, "unifiedSocialCreditIdentifier", "91350100M000100Y4", "length", samples.PLATFORM_USCI),
    (YD, "businessTypeCode", "1002997", "code", "1003997"),
    (YD, "totalMonetaryAmount", "0", "range", "0.001"),
    (YD, "totalMonetaryAmount", "12.3456", "decimals", "12.3450"),
    (YD, "totalMonetaryAmount", "1e3", "format", 1000),
    (YD, "totalMonetaryAmount", "1" * 16, "length", "1" * 15),
    (YD, "totalMonetaryAmount", True, "type", 12.5),
    (YD, "remark", "x" * 257, "length", "x" * 256),
    (
        YD,
        "consignorInfo",
        DELETE,
        "required",
        {
            "consignor": "甲",
            "consignorId": "X1",
            "placeOfLoading": "某地",
            "countrySubdivisionCode": "110105",
        },
    ),
    (
        YD,
        "consignorInfo",
        "甲公司",
        "type",
        {
            "consignor": "甲",
            "consignorId": "X1",
            "placeOfLoading": "某地",
            "countrySubdivisionCode": "110105",
        },
    ),
    (YD, "consignorInfo.consignorId", "x" * 36, "length", "x" * 35),
    (YD, "consignorInfo.countrySubdivisionCode", "3401", "format", "340104"),
    (YD, "consignorInfo.countrySubdivisionCode", "340104000001", "format", "340104000000"),
    (YD, "consignorInfo.countrySubdivisionCode", "349999", "division", "340000"),
    (YD, "consigneeInfo.consigneeId", "x" * 36, "length", DELETE),
    (YD, "consigneeInfo.countrySubdivisionCode", DELETE, "required", 340104),
    (YD, "vehicleInfo", [], "multiplicity", [samples.waybill()["vehicleInfo"][0]]),
    (YD, "vehicleInfo", "皖A1", "type", [samples.waybill()["vehicleInfo"][0]]),  # an object is a 1-item list
    (YD, "vehicleInfo[0].vehiclePlateColorCode", "6", "code", 94),
    (YD, "vehicleInfo[0].vehicleNumber", None, "required", "皖A54321"),
    (
        YD,
        "vehicleInfo[0].driver",
        [],
        "multiplicity",
        [{"driverName": "李四", "drivingLicense": "11010519491231002X"}],
    ),
    (YD, "vehicleInfo[0].driver[0].drivingLicense", "34010419900307001", "length", "11010519491231002X"),
    (YD, "vehicleInfo[0].driver[0].driverName", "张" * 31, "length", "张" * 30),
    (YD, "vehicleInfo[0].goodsInfo", [], "multiplicity", samples.waybill()["vehicleInfo"][0]["goodsInfo"]),
    (YD, "vehicleInfo[0].goodsInfo[0].cargoTypeClassificationCode", "1800", "code", "1702"),
    (YD, "vehicleInfo[0].goodsInfo[0].goodsItemGrossWeight", "0", "range", "0.001"),
    (YD, "vehicleInfo[0].goodsInfo[0].goodsItemGrossWeight", "1.2345", "decimals", 1.234),
    (YD, "vehicleInfo[0].goodsInfo[0].cube", "1.23456", "decimals", "1.2345"),
    (YD, "vehicleInfo[0].goodsInfo[0].cube", 0, "range", DELETE),
    (YD, "vehicleInfo[0].goodsInfo[0].totalNumberOfPackages", 0, "range", 1),
    (YD, "vehicleInfo[0].goodsInfo[0].totalNumberOfPackages", 1.5, "type", "3"),
    (YD, "vehicleInfo[0].loadingCountrySubdivisionCode", "999999", "division", "320583"),
    (YD, "vehicleInfo[0].despatchActualDateTime", "202403151000", "format", "20240315100000"),
    (YD, "vehicleInfo[0].coordinateSystem", "WGS-84", "code", "WGS84"),
    (YD, "actualCarrierInfo.actualCarrierId", "x" * 51, "length", "x" * 50),
    (YD, "insuranceInformation.insuranceCompanyCode", "XXXX", "code", "PICC"),
    (YD, "insuranceInformation.policyNumber", "", "required", "PDAA202434010000001234"),
    # fund flow
    (ZJ, "documentNumber", DELETE, "required", "ZJ1"),
    (ZJ, "actualCarrierId", "x" * 51, "length", "11010519491231002X"),
    (ZJ, "vehiclePlateColorCode", "0", "code", "1"),
    (ZJ, "shippingNoteList", [], "multiplicity", samples.fund_flow()["shippingNoteList"]),
    (ZJ, "shippingNoteList[0].serialNumber", "00001", "length", "0101"),
    (ZJ, "shippingNoteList[0].totalMonetaryAmount", "-1", "range", "1"),
    (ZJ, "financiallist", [], "multiplicity", samples.fund_flow()["financiallist"]),
    (ZJ, "financiallist[0].paymentMeansCode", "5", "code", "41"),
    (ZJ, "financiallist[0].monetaryAmount", -1, "range", "0.500"),
    (ZJ, "financiallist[0].dateTime", "20240316", "format", "20240316235959"),
    (ZJ, "financiallist[0].bankCode", "X" * 12, "length", DELETE),
    (ZJ, "financiallist[0].sequenceCode", "", "required", "S1"),
    # vehicle
    (CL, "vehicleType", "H36", "code", "Q11"),
    (CL, "vehicleEnergyType", "G", "code", "C"),
    (CL, "grossMass", "31.001", "decimals", "31.00"),
    (CL, "grossMass", "0", "range", "49"),
    (CL, "vehicleTonnage", -1, "range", 0),
    (CL, "vehicleTonnage", "12345678.00", "length", "1234567.99"),  # n..9,2: 7 integer digits
    (CL, "registerDate", "20190230", "format", "20190228"),
    (CL, "issueDate", "2019-06-12", "format", 20190612),
    (CL, "vin", "L" * 33, "length", DELETE),
    (CL, "roadTransportCertificateNumber", DELETE, "required", "340104000000"),
    (CL, "trailerVehiclePlateNumber", "x" * 36, "length", "皖A1234挂"),
    # driver
    (JSY, "drivingLicense", "1101051949123100211", "length", "11010519491231002X"),
    (JSY, "vehicleClass", "B3", "code", "C1"),
    (JSY, "vehicleClass", "A2X", "code", "C1E"),
    (JSY, "validPeriodTo", "2999123", "format", "29991231"),
    (JSY, "qualificationCertificate", "x" * 20, "length", "x" * 19),
    (JSY, "telephone", DELETE, "required", "13800138000"),
    # positions
    (WZ, "event", "go", "code", "stop"),
    (WZ, "coordinateSystem", "wgs84", "code", "CGCS2000"),
    (WZ, "coordinateSystem", DELETE, "required", "BD09"),
    (WZ, "drivingLicense", "1" * 17, "length", DELETE),
    (WZ, "shippingNoteInfos[0].serialNumber", "A000", "format", "0001"),
    (WZ, "locations", [], "multiplicity", samples.position_batch(1)["locations"]),
    (WZ, "locations", "none", "type", samples.position_batch(2)["locations"]),
    (WZ, "locations[0].longitude", 181, "range", -180),
    (WZ, "locations[0].longitude", DELETE, "required", 0),
    (WZ, "locations[0].latitude", -90.5, "range", -90),
    (WZ, "locations[0].latitude", "31.8", "type", 31.8),
    (WZ, "locations[0].speed", 250.1, "range", 250),
    (WZ, "locations[0].direction", 361, "range", 360),
    (WZ, "locations[0].direction", -1, "range", DELETE),
    (WZ, "locations[0].accuracy", -1, "range", 0),
    (WZ, "locations[0].dateTime", "20240315250000", "format", "20240315235959"),
    (WZ, "locations[0].dateTime", "20230229120000", "format", "20240229120000"),
    (WZ, "locations[0].dateTime", DELETE, "required", "20240315100000"),
    (WZ, "locations[1]", 5, "type", {"dateTime": "20240315100001", "longitude": 121, "latitude": 31}),
]


@pytest.mark.parametrize(
    ("ipc_type", "path", "bad", "rule", "good"), CASES, ids=[f"{c[0]}:{c[1]}:{c[3]}" for c in CASES]
)
def test_rule_fails_with_exact_path_and_passes_with_a_good_value(ipc_type, path, bad, rule, good):
    failing = validate_payload(ipc_type, _set(samples.SAMPLES[ipc_type](), path, bad))
    assert not failing.ok
    assert failing.model is None
    assert [(e.field, e.rule) for e in failing.errors] == [(path, rule)]
    assert failing.errors[0].message.startswith(path.rsplit(".", 1)[-1].split("[")[0])

    passing = validate_payload(ipc_type, _set(samples.SAMPLES[ipc_type](), path, good))
    assert passing.errors == []
    assert passing.ok


@pytest.mark.parametrize("ipc_type", list(samples.SAMPLES))
def test_samples_validate_clean(ipc_type):
    result = validate_payload(ipc_type, samples.SAMPLES[ipc_type]())
    assert result.ok
    assert result.errors == [] and result.warnings == []
    assert isinstance(result.model, IPC_TYPES[ipc_type].model)


def test_message_names_the_field_in_english_and_chinese():
    doc = _set(samples.waybill(), "vehicleInfo[0].driver[0].drivingLicense", "34010419900307001")
    (error,) = validate_payload(YD, doc).errors
    assert error.to_dict() == {
        "field": "vehicleInfo[0].driver[0].drivingLicense",
        "rule": "length",
        "message": "drivingLicense (身份证号) must be 18 characters, got 17",
    }


def test_several_errors_are_all_reported():
    doc = samples.waybill()
    doc["serialNumber"] = "00a0"
    doc["consignorInfo"]["countrySubdivisionCode"] = "999999"
    doc["vehicleInfo"][0]["goodsInfo"][0]["cube"] = "0.00001"
    fields = {(e.field, e.rule) for e in validate_payload(YD, doc).errors}
    assert fields == {
        ("serialNumber", "format"),
        ("consignorInfo.countrySubdivisionCode", "division"),
        ("vehicleInfo[0].goodsInfo[0].cube", "decimals"),
    }


def test_wire_values_become_typed_python_values():
    from datetime import datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    waybill = validate_payload(YD, samples.waybill()).model
    assert waybill.despatch_actual_date_time == datetime(2024, 3, 15, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert waybill.despatch_actual_date_time.utcoffset().total_seconds() == 8 * 3600
    assert waybill.total_monetary_amount == Decimal("3500.000")
    goods = waybill.vehicle_info[0].goods_info[0]
    assert goods.goods_item_gross_weight_kg == Decimal("18000")
    assert goods.cube_m3 == Decimal("40.5") and isinstance(goods.cube_m3, Decimal)
    assert waybill.remark is None  # "" means not sent
    vehicle = validate_payload(CL, samples.vehicle()).model
    assert vehicle.register_date.isoformat() == "2019-06-12"
    assert vehicle.gross_mass_t == Decimal("31.00")
    flow = validate_payload(ZJ, samples.fund_flow()).model
    assert flow.financiallist[0].monetary_amount == Decimal(3500)


def test_models_accept_snake_case_names_and_ignore_unknown_keys():
    from etl.schemas import Driver

    doc = samples.driver()
    by_name = Driver(
        driver_name=doc["driverName"],
        driving_license=doc["drivingLicense"],
        qualification_certificate="Q1",
        telephone="13800138000",
    )
    assert by_name.natural_key() == samples.DRIVER_ID_NUMBER
    doc["someProvincialExtension"] = {"x": 1}
    assert validate_payload(JSY, doc).ok


def test_natural_keys():
    assert validate_payload(YD, samples.waybill()).model.natural_key() == (
        samples.PLATFORM_USCI,
        "YD20240315000123",
        "0000",
    )
    assert validate_payload(ZJ, samples.fund_flow()).model.natural_key() == "ZJ20240316000045"
    assert validate_payload(CL, samples.vehicle()).model.natural_key() == ("皖A12345", "2")
    assert validate_payload(JSY, samples.driver()).model.natural_key() == samples.DRIVER_ID_NUMBER


# ---- cross-field rules ---------------------------------------------------------------------------------


def test_vehicle_amount_must_cover_the_vehicle_items():
    doc = samples.waybill()
    doc["vehicleInfo"].append(doc["vehicleInfo"][0])
    (error,) = validate_payload(YD, doc).errors
    assert (error.field, error.rule) == ("vehicleAmount", "range")
    doc["vehicleAmount"] = 2
    assert validate_payload(YD, doc).ok


SEGMENT_FIELDS = {
    "despatchActualDateTime": "20240315100000",
    "goodsReceiptDateTime": "20240315180000",
    "placeOfLoading": "江苏省苏州市昆山市",
    "loadingCountrySubdivisionCode": "320583",
    "goodsReceiptPlace": "安徽省合肥市蜀山区",
    "receiptCountrySubdivisionCode": "340104",
}


@pytest.mark.parametrize("serial", ["0001", "0102"])
def test_segmented_waybill_needs_per_vehicle_places_and_times(serial):
    doc = samples.waybill()
    doc["serialNumber"] = serial
    errors = validate_payload(YD, doc).errors
    assert [(e.field, e.rule) for e in errors] == [
        (f"vehicleInfo[0].{k}", "conditional") for k in SEGMENT_FIELDS
    ]
    doc["vehicleInfo"][0].update(SEGMENT_FIELDS)
    assert validate_payload(YD, doc).ok


def test_multi_vehicle_unsegmented_waybill_needs_no_per_vehicle_places():
    doc = samples.waybill()
    doc["serialNumber"] = "0100"
    assert validate_payload(YD, doc).ok


def test_geocoded_place_needs_both_coordinates_and_a_coordinate_system():
    doc = samples.waybill()
    doc["vehicleInfo"][0]["loadingLongitude"] = 120.97
    errors = validate_payload(YD, doc).errors
    assert [(e.field, e.rule) for e in errors] == [
        ("vehicleInfo[0].loadingLatitude", "conditional"),
        ("vehicleInfo[0].coordinateSystem", "conditional"),
    ]
    doc["vehicleInfo"][0].update(loadingLatitude=31.38, coordinateSystem="GCJ02")
    model = validate_payload(YD, doc).model
    assert (model.vehicle_info[0].loading_longitude, model.vehicle_info[0].coordinate_system) == (
        120.97,
        "GCJ02",
    )


@pytest.mark.parametrize("gross_mass", ["4.50", 4.5, "1.2"])
def test_light_vehicle_needs_registration_details(gross_mass):
    doc = samples.vehicle()
    doc["grossMass"] = gross_mass
    doc["vehicleTonnage"] = "1.00"
    del doc["vin"]
    doc["registerDate"] = ""
    errors = validate_payload(CL, doc).errors
    assert [(e.field, e.rule) for e in errors] == [("vin", "conditional"), ("registerDate", "conditional")]
    assert "4.5 t" in errors[0].message


def test_vehicle_over_4_5_t_may_omit_registration_details():
    doc = samples.vehicle()
    doc["grossMass"] = "4.51"
    for key in ("owner", "useCharacter", "vin", "issuingOrganizations", "registerDate", "issueDate"):
        del doc[key]
    assert validate_payload(CL, doc).ok


# ---- warnings ------------------------------------------------------------------------------------------


def test_bad_id_check_character_is_a_warning_not_an_error():
    doc = _set(samples.waybill(), "vehicleInfo[0].driver[0].drivingLicense", "340104199003070012")
    result = validate_payload(YD, doc)
    assert result.ok and result.errors == []
    (warning,) = result.warnings
    assert (warning.field, warning.rule) == ("vehicleInfo[0].driver[0].drivingLicense", "checksum")
    assert "check character for these 17 digits is 3" in warning.message
    assert "340104199003070012" not in warning.message  # no ID number in clear


@pytest.mark.parametrize(
    ("ipc_type", "path", "value"),
    [
        (YD, "unifiedSocialCreditIdentifier", "91350100M000100Y44"),
        (YD, "consignorInfo.consignorId", "91320583MA1MXYW7Q1"),
        (YD, "consigneeInfo.consigneeId", "320583198511151231"),
        (YD, "actualCarrierInfo.actualCarrierId", "91340104MA2N0AB1X2"),
        (ZJ, "actualCarrierId", "11010519491231002Y"),
        (JSY, "drivingLicense", "11010519490230002X"),
        (WZ, "drivingLicense", "110105194912310020"),
    ],
)
def test_checksum_warnings(ipc_type, path, value):
    result = validate_payload(ipc_type, _set(samples.SAMPLES[ipc_type](), path, value))
    assert result.ok
    assert [(w.field, w.rule) for w in result.warnings] == [(path, "checksum")]


@pytest.mark.parametrize("value", ["X1234567", "11010519491231002X", "91350100M000100Y43", "110105491231002"])
def test_party_ids_that_are_not_18_characters_or_are_valid_give_no_warning(value):
    result = validate_payload(YD, _set(samples.waybill(), "consignorInfo.consignorId", value))
    assert result.ok and result.warnings == []


def test_unknown_bank_code_is_a_warning_because_the_bank_table_is_partial():
    result = validate_payload(ZJ, _set(samples.fund_flow(), "financiallist[0].bankCode", "GYCB"))
    assert result.ok
    assert [(w.field, w.rule) for w in result.warnings] == [("financiallist[0].bankCode", "code")]


# ---- envelope-level failures ---------------------------------------------------------------------------


def test_unknown_ipc_type_raises_value_error():
    with pytest.raises(ValueError, match="WLHY_XX1001"):
        validate_payload("WLHY_XX1001", samples.driver())


@pytest.mark.parametrize("data", [b"\xff\xfe", "not json", "[1, 2]", b'"text"', "null"])
def test_non_object_payload_raises_payload_shape_error(data):
    with pytest.raises(PayloadShapeError):
        validate_payload(JSY, data)


@pytest.mark.parametrize(
    "encode",
    [
        lambda d: json.dumps(d, ensure_ascii=False),
        lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8"),
        lambda d: "\ufeff".encode() + json.dumps(d).encode(),
    ],
)
def test_text_and_bytes_are_accepted(encode):
    assert validate_payload(YD, encode(samples.waybill())).ok


def test_ipc_types_accept_provincial_and_ministry_document_names():
    assert {s.kind for s in IPC_TYPES.values()} == {"waybill", "fund_flow", "vehicle", "driver", "position"}
    assert IPC_TYPES[YD].document_names == ("电子运单上传", "电子运单")
    assert IPC_TYPES[CL].ministry_document_name == "车辆信息单"
    assert "位置信息上传" in IPC_TYPES[WZ].document_names
    assert all(s.ministry_document_name in s.document_names for s in IPC_TYPES.values())


def test_field_error_rejects_rules_outside_the_vocabulary():
    with pytest.raises(ValueError, match="rule"):
        FieldError("x", "too_long", "m")


# ---- positions -----------------------------------------------------------------------------------------


def test_position_columns_are_utc_and_nan_for_missing_values():
    doc = samples.position_batch(2)
    doc["locations"][1] = {"dateTime": "20240101000500", "longitude": 117, "latitude": 31.5}
    cols = validate_payload(WZ, doc).model.columns()
    assert cols["time_utc"].tolist() == [
        np.datetime64("2024-03-15T02:00:00"),
        np.datetime64("2023-12-31T16:05:00"),
    ]
    assert cols["longitude"].tolist() == [120.9764, 117.0]
    assert cols["speed_kmh"][0] == 62.5 and np.isnan(cols["speed_kmh"][1])
    assert np.isnan(cols["direction_deg"][1]) and np.isnan(cols["accuracy_m"][1])


def test_position_batch_may_have_no_waybill_and_no_driver():
    doc = samples.position_batch(1)
    doc["shippingNoteInfos"] = []
    del doc["driverName"], doc["drivingLicense"]
    assert validate_payload(WZ, doc).ok


@pytest.mark.parametrize(("n", "ok"), [(10_000, True), (10_001, False)])
def test_position_batch_size_limit(n, ok):
    errors = validate_payload(WZ, samples.position_batch(n)).errors
    assert [(e.field, e.rule) for e in errors] == ([] if ok else [("locations", "multiplicity")])


def test_many_bad_fixes_are_capped_per_check():
    doc = samples.position_batch(50)
    for loc in doc["locations"]:
        loc["speed"] = 300
    errors = validate_payload(WZ, doc).errors
    assert [e.field for e in errors] == [f"locations[{i}].speed" for i in range(10)]
    assert "50 items fail" in errors[-1].message


# --- list fields sent as one object (the public Fujian client) --------------------------------------------------


@pytest.mark.parametrize("ipc,make,path", [
    (YD, samples.waybill, "vehicleInfo"),
    (YD, samples.waybill, "vehicleInfo[0].driver"),
    (YD, samples.waybill, "vehicleInfo[0].goodsInfo"),
    (ZJ, samples.fund_flow, "shippingNoteList"),
    (ZJ, samples.fund_flow, "financiallist"),
    (WZ, lambda: samples.position_batch(1), "locations"),
    (WZ, lambda: samples.position_batch(1), "shippingNoteInfos"),
])
def test_a_list_sent_as_one_object_is_a_one_element_list_with_a_warning(ipc, make, path):
    doc = make()
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    target = doc
    for part in parts[:-1]:
        target = target[part]
    if not target[parts[-1]]:
        pytest.skip("sample list is empty")
    listed = json.loads(json.dumps(doc))
    target[parts[-1]] = target[parts[-1]][0]  # the object itself, not a list
    sent = json.loads(json.dumps(doc))
    r = validate_payload(ipc, doc)
    assert r.ok, r.errors
    assert [(w.field, w.rule) for w in r.warnings if w.rule == "shape"] == [(path, "shape")]
    assert r.data == listed  # stored and forwarded as the list the spec defines
    assert doc == sent  # the caller's object is not changed
    clean = validate_payload(ipc, listed)
    assert clean.ok and not [w for w in clean.warnings if w.rule == "shape"]
