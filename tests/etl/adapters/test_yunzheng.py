"""运政 registry client against its simulator (real uvicorn)."""

from __future__ import annotations

import datetime as dt

import pytest

from etl.adapters import YunzhengClient

from .conftest import PLATE, TRAILER


@pytest.fixture
def client(sims):
    with YunzhengClient(sims["yunzheng"].url, timeout_s=2.0, retries=1, backoff_s=0.01) as c:
        yield c


def test_operator_licence_by_permit_number(client):
    lic = client.get_operator_licence("340104000001")
    assert lic is not None
    assert (lic.number, lic.holder, lic.usci) == (
        "340104000001",
        "合肥顺达物流有限公司",
        "91340100MA2N000011",
    )
    assert (lic.valid_from, lic.valid_to, lic.status) == (dt.date(2020, 1, 1), dt.date(2025, 12, 31), "valid")
    assert lic.is_valid_on(dt.date(2024, 3, 1))


def test_unknown_documents_are_none(client):
    assert client.get_operator_licence("340104999999") is None
    assert client.get_operator_licence_by_usci("91340100MA2N999999") is None
    assert client.get_vehicle_certificate("340104000000") is None
    assert client.get_vehicle_certificate_by_plate(PLATE, "1") is None  # right plate, wrong colour
    assert client.get_driver_certificate("000000000000000000") is None
    assert client.get_driver_certificate_by_id("000000000000000000") is None


def test_lookup_by_usci_returns_the_current_licence(client):
    lic = client.get_operator_licence_by_usci("91340100MA2N000011")
    assert lic is not None and lic.number == "340104000001"
    # The replaced licence is still there by its own number.
    old = client.get_operator_licence("340104000000")
    assert old is not None and not old.is_valid_on(dt.date(2024, 3, 1))


def test_revoked_licence_is_returned_but_not_valid(client):
    lic = client.get_operator_licence("340104000002")
    assert lic is not None and lic.status == "revoked"
    assert not lic.is_valid_on(dt.date(2024, 3, 1))


def test_vehicle_certificate_by_number_and_by_chinese_plate(client):
    by_number = client.get_vehicle_certificate("340104123456")
    by_plate = client.get_vehicle_certificate_by_plate(PLATE, "2")
    assert by_number == by_plate
    assert by_plate.vehicle_number == PLATE and by_plate.plate_color == "2"
    # '·' and '挂' survive the round trip as a query parameter.
    trailer = client.get_vehicle_certificate_by_plate(TRAILER, "2")
    assert trailer is not None and trailer.number == "340104654321" and trailer.status == "suspended"


def test_driver_certificate_expires_after_its_last_day(client):
    cert = client.get_driver_certificate("340104199001011234")
    assert cert is not None and cert.holder == "张三"
    assert client.get_driver_certificate_by_id("340104199001011234") == cert
    assert cert.is_valid_on("20240509")
    assert not cert.is_valid_on("20240510")


def test_admin_load_adds_and_replaces_records(sims, client, admin):
    url = sims["yunzheng"].url
    rec = {
        "permitNumber": "340200000777",
        "unifiedSocialCreditIdentifier": "91340200MA2N000777",
        "name": "马鞍山新港物流有限公司",
        "validFrom": "20230101",
        "validTo": "20290101",
        "status": "valid",
    }
    assert client.get_operator_licence("340200000777") is None
    r = admin.post(f"{url}/admin/records/operator_licences", json=[rec])
    assert r.status_code == 200 and r.json()["loaded"] == 1
    assert client.get_operator_licence("340200000777").is_valid_on("20240301")

    admin.post(
        f"{url}/admin/records/operator_licences", json=[{**rec, "status": "suspended"}]
    ).raise_for_status()
    assert client.get_operator_licence_by_usci("91340200MA2N000777").status == "suspended"


def test_admin_load_rejects_bad_records_and_unknown_kinds(sims, client, admin):
    url = sims["yunzheng"].url
    bad = {
        "permitNumber": "340200000888",
        "unifiedSocialCreditIdentifier": "u",
        "name": "n",
        "validFrom": "2023-01-01",
        "validTo": "20290101",
        "status": "valid",
    }
    r = admin.post(f"{url}/admin/records/operator_licences", json=[bad])
    assert r.status_code == 422 and r.json()["code"] == "INVALID_RECORD"
    assert client.get_operator_licence("340200000888") is None
    r = admin.post(f"{url}/admin/records/licences", json=[])
    assert r.status_code == 400 and r.json()["code"] == "UNKNOWN_KIND"
