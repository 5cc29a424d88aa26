"""Wire date/time formats shared by the adapter clients and simulators.

Dates are ``YYYYMMDD``. Instants are ISO-8601 or the Ministry's ``YYYYMMDDhhmmss``; an instant without
an offset is China Standard Time (UTC+8), the time every Chinese transport system writes.
"""

from __future__ import annotations

import datetime as dt

from core.beijing import BEIJING as CST

__all__ = ["CST", "epoch_us", "parse_instant", "parse_wire_date", "to_date", "to_instant", "wire_date"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_wire_date(value: str | None) -> dt.date | None:
    """Parse a ``YYYYMMDD`` wire date; ``None`` or ``""`` (open-ended validity) gives ``None``.

    Examples
    --------
    >>> parse_wire_date("20240229")
    datetime.date(2024, 2, 29)
    """
    if value is None or value == "":
        return None
    if len(value) != 8 or not value.isdigit():
        raise ValueError(f"wire date must be YYYYMMDD, got {value!r}")
    return dt.datetime.strptime(value, "%Y%m%d").date()


def wire_date(day: dt.date | None) -> str | None:
    """Format a date as ``YYYYMMDD`` (``None`` stays ``None``)."""
    return None if day is None else day.strftime("%Y%m%d")


def parse_instant(value: str) -> dt.datetime:
    """Parse ``YYYYMMDDhhmmss`` or ISO-8601 into an aware UTC datetime (no offset means UTC+8).

    Examples
    --------
    >>> parse_instant("20240301080000")
    datetime.datetime(2024, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> parse_instant("2024-03-01T00:00:00Z")
    datetime.datetime(2024, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    text = value.strip()
    if len(text) == 14 and text.isdigit():
        parsed = dt.datetime.strptime(text, "%Y%m%d%H%M%S")
    else:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"instant must be ISO-8601 or YYYYMMDDhhmmss, got {value!r}") from None
    return to_instant(parsed)


def to_instant(value: dt.datetime | str) -> dt.datetime:
    """Coerce a datetime (naive means UTC+8) or a wire string to an aware UTC datetime."""
    if isinstance(value, str):
        return parse_instant(value)
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime or str, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=CST)
    return value.astimezone(dt.UTC)


def to_date(value: dt.date | dt.datetime | str) -> dt.date:
    """Coerce a date, a datetime (its UTC+8 calendar day) or a ``YYYYMMDD[hhmmss]`` string to a date."""
    if isinstance(value, dt.datetime):
        # 2024-03-01 01:00 in Beijing is 2024-02-29 in UTC; validity is counted in Beijing calendar days.
        return to_instant(value).astimezone(CST).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        if len(value) == 8:
            day = parse_wire_date(value)
            assert day is not None
            return day
        return parse_instant(value).astimezone(CST).date()
    raise TypeError(f"expected a date, datetime or str, got {type(value).__name__}")


def epoch_us(t: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, computed exactly.

    Float ``timestamp()`` can be off by a microsecond at today's magnitudes, which moves a window edge.
    """
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
