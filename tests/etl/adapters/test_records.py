"""Record parsing and validity checks (no server needed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from etl.adapters import MonthlyInvoiceTotal, OperatorLicence
from etl.adapters._http import path
from etl.adapters._time import parse_instant, to_date

LICENCE = OperatorLicence.from_wire(
    {
        "permitNumber": "340104000001",
        "unifiedSocialCreditIdentifier": "91340100MA2N000011",
        "name": "合肥顺达物流有限公司",
        "validFrom": "20200101",
        "validTo": "20251231",
        "status": "valid",
    }
)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2019, 12, 31), False),
        (dt.date(2020, 1, 1), True),
        (dt.date(2025, 12, 31), True),
        (dt.date(2026, 1, 1), False),
        ("20251231", True),
        ("20260101", False),
        # Naive datetimes are Beijing time: 23:30 on the last day is still inside.
        (dt.datetime(2025, 12, 31, 23, 30), True),
        # 16:30 UTC on 31 Dec is 00:30 on 1 Jan in Beijing: outside.
        (dt.datetime(2025, 12, 31, 16, 30, tzinfo=dt.UTC), False),
        ("20260101000500", False),
        ("20251231235959", True),
    ],
)
def test_is_valid_on_edges_of_validity(day, expected):
    assert LICENCE.is_valid_on(day) is expected


def test_revoked_or_suspended_is_never_valid():
    for status in ("revoked", "suspended"):
        rec = OperatorLicence(
            number="x",
            holder="y",
            usci="z",
            valid_from=dt.date(2020, 1, 1),
            valid_to=dt.date(2030, 1, 1),
            status=status,
        )
        assert not rec.is_valid_on(dt.date(2024, 6, 1))


def test_open_ended_validity_has_no_upper_bound():
    rec = OperatorLicence.from_wire(
        {
            "permitNumber": "p",
            "unifiedSocialCreditIdentifier": "u",
            "name": "n",
            "validFrom": "20200101",
            "validTo": None,
            "status": "valid",
        }
    )
    assert rec.valid_to is None
    assert rec.is_valid_on(dt.date(2099, 1, 1))
    assert not rec.is_valid_on(dt.date(2019, 12, 31))


def test_wire_instants_without_offset_are_beijing_time():
    utc = dt.datetime(2024, 3, 1, 0, 2, tzinfo=dt.UTC)
    assert parse_instant("20240301080200") == utc
    assert parse_instant("2024-03-01T08:02:00") == utc
    assert parse_instant("2024-03-01T08:02:00+08:00") == utc
    assert parse_instant("2024-03-01T00:02:00Z") == utc
    assert to_date(dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC)) == dt.date(2024, 3, 1)
    with pytest.raises(ValueError, match="YYYYMMDDhhmmss"):
        parse_instant("1 March 2024")


def test_path_segments_are_percent_encoded_whole():
    assert path("national", "v1", "vehicles", "皖A12345", "2") == "/national/v1/vehicles/%E7%9A%96A12345/2"
    # A '/' or '?' inside a key must not split the path or start a query.
    assert path("p", "a/b?c") == "/p/a%2Fb%3Fc"


def test_invoice_amount_is_an_exact_decimal():
    rec = MonthlyInvoiceTotal.from_wire(
        {"unifiedSocialCreditIdentifier": "u", "month": "202402", "invoiceCount": "12", "amount": 0.1}
    )
    assert rec.amount_yuan == Decimal("0.1")
    assert rec.invoice_count == 12


def test_wire_shapes_round_trip_the_records_the_simulators_load():
    """One shape per record: what the generator writes and the simulators load comes back unchanged."""
    from etl.adapters import records as r
    from tests.etl.adapters import conftest as seeds

    for shape, rows in [
        (r.OperatorLicenceWire, seeds.OPERATOR_LICENCES),
        (r.VehicleCertificateWire, seeds.VEHICLE_CERTIFICATES),
        (r.DriverCertificateWire, seeds.DRIVER_CERTIFICATES),
        (r.InNetworkStatusWire, seeds.IN_NETWORK),
        (r.MonthlyInvoiceTotalWire, seeds.TAX_INVOICES),
        (r.InsurancePolicyWire, seeds.INSURANCE_POLICIES),
    ]:
        assert shape.dump_many(rows) == rows
        assert [list(rec) for rec in shape.dump_many(rows)] == [list(rec) for rec in rows]  # key order too


@pytest.mark.parametrize(
    ("value", "expected"),
    [("20240229", dt.date(2024, 2, 29)), ("", None), (None, None), ("2024-02-29", ValueError),
     ("20230231", ValueError), (20240229, ValueError)],
)
def test_wire_dates_are_yyyymmdd_or_open_ended(value, expected):
    from etl.adapters.records import OperatorLicenceWire

    rec = {"permitNumber": "p", "unifiedSocialCreditIdentifier": "u", "name": "n", "validTo": value,
           "status": "valid"}
    if expected is ValueError:
        with pytest.raises(ValueError, match="validTo"):
            OperatorLicenceWire.model_validate(rec)
        return
    assert OperatorLicence.from_wire(rec).valid_to == expected
    assert OperatorLicenceWire.dump_many([rec])[0]["validTo"] == (None if expected is None else value)
