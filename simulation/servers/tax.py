"""Simulator of the tax system's information-sharing interface: invoice totals per operator and month.

Endpoints (JSON, camelCase wire keys; amount in yuan as a 3-decimal string)::

    GET  /tax/v1/invoices/{unifiedSocialCreditIdentifier}/{month}      month: YYYYMM
         -> {"unifiedSocialCreditIdentifier", "month", "invoiceCount", "amount"}
         404 {"code": "NOT_FOUND"} when the operator issued no invoice that month
    GET  /tax/v1/invoices/{unifiedSocialCreditIdentifier}?from=YYYYMM&to=YYYYMM
         -> {"unifiedSocialCreditIdentifier", "items": [...]}   months with invoices, in month order
    POST /admin/records[/tax_invoices]   body: JSON list (upsert by USCI + month)
    POST /admin/faults, GET /health

Seed file: ``registry/tax_invoices.jsonl`` under `data_dir`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query

from etl.adapters.records import MONTH_PATTERN, MonthlyInvoiceTotalWire
from simulation.servers.base import SimError, Table, registry_app

__all__ = ["KINDS", "create_app"]

KINDS = ("tax_invoices",)


def create_app(data_dir: Path | None = None) -> FastAPI:
    """Build the tax simulator, seeded from ``data_dir/registry/tax_invoices.jsonl`` (empty when None)."""
    invoices = Table(
        MonthlyInvoiceTotalWire,
        key=lambda r: (r["unifiedSocialCreditIdentifier"], r["month"]),
        indexes={"usci": lambda r: r["unifiedSocialCreditIdentifier"]},
    )
    app = registry_app(
        "tax system simulator",
        "Monthly invoice totals per operator (information sharing).",
        {"tax_invoices": invoices},
        data_dir,
    )

    @app.get("/tax/v1/invoices/{usci}/{month}")
    async def monthly_invoices(usci: str, month: str) -> dict:
        _check_month("month", month)
        return invoices.get_or_raise((usci, month), "invoices for USCI/month")

    @app.get("/tax/v1/invoices/{usci}")
    async def invoices_between(
        usci: str, first: Annotated[str, Query(alias="from")], last: Annotated[str, Query(alias="to")]
    ) -> dict:
        _check_month("from", first)
        _check_month("to", last)
        rows = sorted(
            (r for r in invoices.find("usci", usci) if first <= r["month"] <= last), key=lambda r: r["month"]
        )
        return {"unifiedSocialCreditIdentifier": usci, "items": rows}

    return app


def _check_month(name: str, value: str) -> None:
    if not re.match(MONTH_PATTERN, value):
        raise SimError(400, "BAD_MONTH", f"{name} must be YYYYMM, got {value!r}")
