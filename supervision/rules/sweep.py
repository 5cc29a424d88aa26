"""The daily sweep of the document rules over a date range (``wlhy rules sweep``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.beijing import day_bounds
from supervision.rules.duplicates import CODE as DUPLICATE
from supervision.rules.duplicates import check_duplicates
from supervision.rules.waybills import check_waybills

__all__ = ["sweep"]


def sweep(session: Session, date_from: dt.date, date_to: dt.date, *, chunk: int = 2000,
          now: dt.datetime | None = None, progress=None) -> dict[str, int]:
    """Check every production waybill whose goods receipt falls on the Beijing days ``date_from``..``date_to``;
    the caller commits. ``progress(done, total)`` hears each chunk. Returns how many fired per code."""
    lo, hi = day_bounds(date_from, date_to)
    ids = session.scalars(text("SELECT id FROM waybill WHERE receipt_at >= :lo AND receipt_at < :hi "
                               "AND NOT is_sandbox ORDER BY id"), {"lo": lo, "hi": hi}).all()
    total: dict[str, int] = {}
    for k in range(0, len(ids), chunk):
        part = ids[k:k + chunk]
        fired = check_waybills(session, part, now=now)
        fired[DUPLICATE] = check_duplicates(session, part)
        for code, n in fired.items():
            if n:
                total[code] = total.get(code, 0) + n
        if progress is not None:
            progress(min(k + chunk, len(ids)), len(ids))
    return total
