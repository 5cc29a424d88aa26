"""Beijing time (China Standard Time, UTC+8, no daylight saving since 1991), defined once.

Wire times of spec/EXCHANGE.md, position partitions and every "day" of a statistic are Beijing days; the
database stores ``timestamptz`` (UTC) and converts at the edges with these helpers.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["BEIJING", "OFFSET_S", "day_bounds", "now", "today", "wire_datetime"]

#: The fixed UTC+8 zone (cheaper than ``ZoneInfo("Asia/Shanghai")`` and equal to it for every date we handle).
BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
OFFSET_S = 8 * 3600


def now() -> dt.datetime:
    """The current time, aware, in Beijing time."""
    return dt.datetime.now(BEIJING)


def today() -> dt.date:
    """Today's Beijing calendar date."""
    return now().date()


def day_bounds(first: dt.date, last: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """``[start of first, start of the day after last)`` as aware datetimes (``last`` defaults to ``first``).

    >>> day_bounds(dt.date(2025, 3, 1))[0].isoformat()
    '2025-03-01T00:00:00+08:00'
    """
    last = first if last is None else last
    if last < first:
        raise ValueError(f"last day ({last}) is before the first ({first})")
    t0 = dt.datetime.combine(first, dt.time(), tzinfo=BEIJING)
    return t0, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=BEIJING)


def wire_datetime(t: dt.datetime) -> str:
    """``YYYYMMDDhhmmss`` in Beijing time, as the wire formats write it (a naive ``t`` is taken as Beijing time).

    >>> wire_datetime(dt.datetime(2025, 3, 1, 0, 30, tzinfo=dt.timezone.utc))
    '20250301083000'
    """
    return (t if t.tzinfo else t.replace(tzinfo=BEIJING)).astimezone(BEIJING).strftime("%Y%m%d%H%M%S")
