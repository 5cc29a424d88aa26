"""Client of the tax system's information-sharing interface: monthly invoice totals per operator.

Paths are documented in ``simulation.servers.tax``.
"""

from __future__ import annotations

import re

from etl.adapters._http import BaseClient, path
from etl.adapters.records import MONTH_PATTERN, MonthlyInvoiceTotal

__all__ = ["TaxClient"]

_MONTH = re.compile(MONTH_PATTERN)


class TaxClient(BaseClient):
    """Read invoice totals from the tax system (see ``BaseClient`` for the call policy)."""

    system = "tax"

    def get_monthly_invoices(self, usci: str, month: str) -> MonthlyInvoiceTotal | None:
        """Invoices the operator issued in `month` (``YYYYMM``), or ``None`` if the tax system has none."""
        _check_month("month", month)
        return self._get_record(MonthlyInvoiceTotal.from_wire, path("tax", "v1", "invoices", usci, month))

    def get_invoices_between(self, usci: str, first_month: str, last_month: str) -> list[MonthlyInvoiceTotal]:
        """Every month in [first_month, last_month] (``YYYYMM``, inclusive) with invoices, in month order."""
        _check_month("first_month", first_month)
        _check_month("last_month", last_month)
        body = self._get_json(path("tax", "v1", "invoices", usci), {"from": first_month, "to": last_month})
        if body is None:
            return []
        return self._parse(lambda b: [MonthlyInvoiceTotal.from_wire(d) for d in b["items"]], body)


def _check_month(name: str, value: str) -> None:
    if not isinstance(value, str) or not _MONTH.match(value):
        raise ValueError(f"{name} must be YYYYMM, got {value!r}")
