"""Periods of the comprehensive assessment: a month (``2026-10``), a quarter (``2026Q4``) or any day range.

>>> parse("2026-10")
Period(first=datetime.date(2026, 10, 1), last=datetime.date(2026, 10, 31), label='2026-10')
>>> parse("2026Q4").previous()
Period(first=datetime.date(2026, 7, 1), last=datetime.date(2026, 9, 30), label='2026Q3')
>>> Period(dt.date(2026, 10, 5), dt.date(2026, 10, 14)).previous()
Period(first=datetime.date(2026, 9, 25), last=datetime.date(2026, 10, 4), label='2026-09-25..2026-10-04')
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from core.errors import InvalidInputError

__all__ = ["MAX_DAYS", "Period", "of_request", "parse"]

MAX_DAYS = 366  # a year at most: the ranking is a periodic assessment, not an archive query

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})[Qq]([1-4])$")


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """Beijing days ``first`` … ``last`` (both included)."""

    first: dt.date
    last: dt.date
    label: str = field(default="")

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise InvalidInputError(f"period ends ({self.last}) before it starts ({self.first})")
        if (self.last - self.first).days + 1 > MAX_DAYS:
            raise InvalidInputError(f"a period spans at most {MAX_DAYS} days")
        if not self.label:
            object.__setattr__(self, "label", self._label())

    def _label(self) -> str:
        f, last = self.first, self.last
        if f.day == 1 and last == _month_end(f.year, f.month):
            return f"{f.year}-{f.month:02d}"
        if f.day == 1 and f.month % 3 == 1 and last == _month_end(f.year, f.month + 2):
            return f"{f.year}Q{(f.month - 1) // 3 + 1}"
        return f"{f.isoformat()}..{last.isoformat()}"

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def kind(self) -> str:
        """``month``, ``quarter`` or ``range``."""
        return "month" if _MONTH.match(self.label) else "quarter" if _QUARTER.match(self.label) else "range"

    def previous(self) -> Period:
        """The period of equal length just before: the previous month, quarter, or the same number of days."""
        if self.kind == "month":
            last = self.first - dt.timedelta(days=1)
            return Period(last.replace(day=1), last)
        if self.kind == "quarter":
            last = self.first - dt.timedelta(days=1)
            return Period(dt.date(last.year, last.month - 2, 1), last)
        return Period(self.first - dt.timedelta(days=self.days), self.first - dt.timedelta(days=1))

    def next(self) -> Period:
        """The period whose :meth:`previous` this is (months and quarters; ranges: the same number of days)."""
        if self.kind == "month":
            first = self.last + dt.timedelta(days=1)
            return Period(first, _month_end(first.year, first.month))
        if self.kind == "quarter":
            first = self.last + dt.timedelta(days=1)
            return Period(first, _month_end(first.year, first.month + 2))
        return Period(self.last + dt.timedelta(days=1), self.last + dt.timedelta(days=self.days))

    def contains(self, day: dt.date) -> bool:
        return self.first <= day <= self.last


def parse(text: str) -> Period:
    """``YYYY-MM`` or ``YYYYQn``.

    Raises
    ------
    InvalidInputError
        Anything else.
    """
    text = (text or "").strip()
    if m := _MONTH.match(text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise InvalidInputError(f"period {text!r}: month must be 01–12")
        return Period(dt.date(year, month, 1), _month_end(year, month))
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
        return Period(dt.date(year, 3 * q - 2, 1), _month_end(year, 3 * q))
    raise InvalidInputError(f"period {text!r}: expected a month YYYY-MM (2026-10) or a quarter YYYYQn (2026Q4)")


def of_request(period: str | None, first: dt.date | None, last: dt.date | None) -> Period:
    """The period a request names: ``period``, or ``from`` + ``to`` (days, both included).

    Raises
    ------
    InvalidInputError
        Neither or both forms, or only one of ``from``/``to``.
    """
    if period and (first or last):
        raise InvalidInputError("give either period=YYYY-MM|YYYYQn or from=&to=, not both")
    if period:
        return parse(period)
    if first is None or last is None:
        raise InvalidInputError("give period=YYYY-MM|YYYYQn, or both from= and to= (Beijing days, included)")
    return Period(first, last)
