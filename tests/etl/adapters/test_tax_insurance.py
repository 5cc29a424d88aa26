"""Tax and insurance clients against their simulators."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from etl.adapters import InsuranceClient, TaxClient

USCI = "91340100MA2N000011"


@pytest.fixture
def tax(sims):
    with TaxClient(sims["tax"].url, timeout_s=2.0, retries=1, backoff_s=0.01) as c:
        yield c


@pytest.fixture
def insurance(sims):
    with InsuranceClient(sims["insurance"].url, timeout_s=2.0, retries=1, backoff_s=0.01) as c:
        yield c


def test_monthly_invoice_total(tax):
    rec = tax.get_monthly_invoices(USCI, "202402")
    assert rec is not None
    assert (rec.usci, rec.month, rec.invoice_count, rec.amount_yuan) == (
        USCI,
        "202402",
        12,
        Decimal("35200.500"),
    )
    assert tax.get_monthly_invoices(USCI, "202404") is None
    assert tax.get_monthly_invoices("91340100MA2N999999", "202402") is None


def test_invoices_between_months_inclusive(tax):
    months = tax.get_invoices_between(USCI, "202402", "202404")
    assert [(m.month, m.amount_yuan) for m in months] == [
        ("202402", Decimal("35200.500")),
        ("202403", Decimal("9000.000")),
    ]
    assert [m.month for m in tax.get_invoices_between(USCI, "202403", "202405")] == ["202403", "202405"]
    assert tax.get_invoices_between("91340100MA2N999999", "202401", "202412") == []


def test_month_must_be_yyyymm(tax):
    with pytest.raises(ValueError, match="YYYYMM"):
        tax.get_monthly_invoices(USCI, "2024-02")
    with pytest.raises(ValueError, match="YYYYMM"):
        tax.get_monthly_invoices(USCI, "202413")


def test_policy_lookup_and_validity(insurance):
    pol = insurance.get_policy("PICC2023340100123")
    assert pol is not None
    assert (pol.company_code, pol.holder) == ("PICC", "合肥顺达物流有限公司")
    assert pol.is_valid_on("20240531") and not pol.is_valid_on("20240601")
    assert not pol.is_valid_on(dt.date(2023, 5, 31))
    assert insurance.get_policy("none") is None


def test_admin_load_without_kind_on_single_kind_simulators(sims, tax, insurance, admin):
    pol = {
        "policyNumber": "CPIC2024340100999",
        "insuranceCompanyCode": "CPIC",
        "insured": "芜湖远航运输有限公司",
        "validFrom": "20240101",
        "validTo": "20241231",
    }
    admin.post(sims["insurance"].url + "/admin/records", json=[pol]).raise_for_status()
    assert insurance.get_policy("CPIC2024340100999").company_code == "CPIC"

    inv = {"unifiedSocialCreditIdentifier": USCI, "month": "202406", "invoiceCount": 2, "amount": 12.5}
    admin.post(sims["tax"].url + "/admin/records", json=[inv]).raise_for_status()
    assert tax.get_monthly_invoices(USCI, "202406").amount_yuan == Decimal("12.500")
