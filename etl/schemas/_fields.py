"""Private field validators for the payload models: each raises PydanticCustomError(<rule>, <message>).

The error *type* is one of ``errors.RULES`` and the message omits the field name: ``validate.py``
prefixes the wire name (and its Chinese name) when it turns pydantic errors into ``FieldError``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from core.beijing import BEIJING
from etl import codes

__all__ = [
    "BEIJING",
    "FIELD_ERRORS",
    "choice",
    "code",
    "date_",
    "datetime_",
    "decimal_",
    "division",
    "float_",
    "integer",
    "pattern",
    "raise_field_errors",
    "text",
    "vehicle_class",
]


#: Error type carrying several FieldError-like items (relative path, rule, message) in ``ctx["items"]``,
#: raised by cross-field checks and by the column-wise location check.
FIELD_ERRORS = "field_errors"

_DATETIME_RE = re.compile(r"^[0-9]{14}$")
_DATE_RE = re.compile(r"^[0-9]{8}$")
_DECIMAL_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_DIVISION_RE = re.compile(r"^[0-9]{6}(000000)?$")
_CLASS_TOKENS = "|".join(sorted(codes.load_table("vehicle_class"), key=len, reverse=True))
_VEHICLE_CLASS_RE = re.compile(rf"^(?:{_CLASS_TOKENS})+$")


def raise_field_errors(items: Iterable[tuple[str, str, str]]) -> None:
    """Raise one pydantic error that stands for several (relative path, rule, message) failures."""
    items = tuple(items)
    if items:
        summary = "; ".join(f"{path}: {message}" for path, _, message in items)
        raise PydanticCustomError(FIELD_ERRORS, "{summary}", {"summary": summary, "items": items})


def _err(rule: str, message: str, **ctx: object) -> PydanticCustomError:
    return PydanticCustomError(rule, message, ctx or None)


def _blank(v: object) -> bool:
    return v is None or v == ""


def _missing(required: bool) -> None:
    if required:
        raise _err("required", "is required")


def _type_name(v: object) -> str:
    return {dict: "object", list: "array", bool: "boolean", int: "number", float: "number"}.get(
        type(v), type(v).__name__
    )


def _as_str(v: object, *, allow_int: bool) -> str:
    """Codes and digit strings may arrive as JSON numbers from PHP clients; text must be a string."""
    if isinstance(v, str):
        return v
    if allow_int and isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise _err("type", "must be a string, got {got}", got=_type_name(v))


def text(max_len: int, *, exact: bool = False, required: bool = True) -> PlainValidator:
    """an..N (or anN with `exact`) text; ``""`` counts as missing."""

    def check(v: object) -> str | None:
        if _blank(v):
            return _missing(required)
        s = _as_str(v, allow_int=False)
        if exact and len(s) != max_len:
            raise _err("length", "must be {n} characters, got {got}", n=max_len, got=len(s))
        if len(s) > max_len:
            raise _err("length", "must be at most {n} characters, got {got}", n=max_len, got=len(s))
        return s

    return PlainValidator(check)


def pattern(regex: str, description: str, *, max_len: int, required: bool = True) -> PlainValidator:
    """Text that must match `regex` (rule ``format``), e.g. serialNumber ``^[0-9]{4}$``."""
    compiled = re.compile(regex)

    def check(v: object) -> str | None:
        if _blank(v):
            return _missing(required)
        s = _as_str(v, allow_int=False)
        if len(s) > max_len:
            raise _err("length", "must be at most {n} characters, got {got}", n=max_len, got=len(s))
        if compiled.match(s) is None:
            raise _err("format", "must be {what}, got '{got}'", what=description, got=s)
        return s

    return PlainValidator(check)


def code(table: str, *, max_len: int, required: bool = True) -> PlainValidator:
    """Member of code table `table` (etl.codes); integers are read as their decimal string."""

    def check(v: object) -> str | None:
        if _blank(v):
            return _missing(required)
        s = _as_str(v, allow_int=True)
        if len(s) > max_len:
            raise _err("length", "must be at most {n} characters, got {got}", n=max_len, got=len(s))
        if not codes.is_code(table, s):
            raise _err("code", "'{got}' is not a code of table {table}", got=s, table=table)
        return s

    return PlainValidator(check)


def choice(values: tuple[str, ...], *, required: bool = True) -> PlainValidator:
    """One of a closed list of strings written in the spec itself (event, coordinateSystem)."""

    def check(v: object) -> str | None:
        if _blank(v):
            return _missing(required)
        s = _as_str(v, allow_int=False)
        if s not in values:
            raise _err("code", "must be one of {allowed}, got '{got}'", allowed="|".join(values), got=s)
        return s

    return PlainValidator(check)


def vehicle_class(*, max_len: int, required: bool = False) -> PlainValidator:
    """准驾车型: one or more driving-licence classes written together, e.g. ``B2`` or ``A2E``."""

    def check(v: object) -> str | None:
        if _blank(v):
            return _missing(required)
        s = _as_str(v, allow_int=False)
        if len(s) > max_len:
            raise _err("length", "must be at most {n} characters, got {got}", n=max_len, got=len(s))
        if _VEHICLE_CLASS_RE.match(s) is None:
            raise _err("code", "'{got}' is not made of driving-licence classes (table vehicle_class)", got=s)
        return s

    return PlainValidator(check)


def datetime_(*, required: bool = True) -> PlainValidator:
    """``YYYYMMDDhhmmss`` Beijing time → tz-aware datetime."""

    def check(v: object) -> dt.datetime | None:
        if _blank(v):
            return _missing(required)
        s = _as_str(v, allow_int=True)
        if _DATETIME_RE.match(s) is None:
            raise _err("format", "must be a date-time YYYYMMDDhhmmss, got '{got}'", got=s)
        try:
            return dt.datetime(
                int(s[0:4]),
                int(s[4:6]),
                int(s[6:8]),
                int(s[8:10]),
                int(s[10:12]),
                int(s[12:14]),
                tzinfo=BEIJING,
            )
        except ValueError:
            raise _err("format", "is not a real date-time: '{got}'", got=s) from None

    return PlainValidator(check)


def date_(*, required: bool = True) -> PlainValidator:
    """``YYYYMMDD`` → date."""

    def check(v: object) -> dt.date | None:
        if _blank(v):
            return _missing(required)
        s = _as_str(v, allow_int=True)
        if _DATE_RE.match(s) is None:
            raise _err("format", "must be a date YYYYMMDD, got '{got}'", got=s)
        try:
            return dt.date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
        except ValueError:
            raise _err("format", "is not a real date: '{got}'", got=s) from None

    return PlainValidator(check)


def _to_decimal(v: object) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise _err("type", "must be a number or a numeric string, got {got}", got=_type_name(v))
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _err("type", "must be a finite number")
        # repr() is the shortest string that round-trips, so 12.345 stays 12.345 and not 12.3449999...
        return Decimal(repr(v))
    s = str(v)
    if _DECIMAL_RE.match(s) is None:
        raise _err("format", "must be a plain decimal number like 123.450, got '{got}'", got=s)
    return Decimal(s)


def decimal_(
    *,
    places: int,
    max_digits: int,
    unit: str,
    gt: Decimal | None = None,
    ge: Decimal | None = None,
    required: bool = True,
) -> PlainValidator:
    """n..max_digits,places number → Decimal; trailing zeros do not count as decimals (``1.2300`` has 2)."""

    def check(v: object) -> Decimal | None:
        if _blank(v):
            return _missing(required)
        d = _to_decimal(v)
        exponent = d.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise _err(
                "decimals", "allows at most {p} decimals ({unit}), got {got}", p=places, unit=unit, got=str(v)
            )
        if d.copy_abs() >= Decimal(10) ** (max_digits - places):
            raise _err(
                "length",
                "allows at most {n} digits before the decimal point, got {got}",
                n=max_digits - places,
                got=str(v),
            )
        if gt is not None and not d > gt:
            raise _err(
                "range", "must be greater than {lim} {unit}, got {got}", lim=str(gt), unit=unit, got=str(v)
            )
        if ge is not None and not d >= ge:
            raise _err(
                "range", "must be at least {lim} {unit}, got {got}", lim=str(ge), unit=unit, got=str(v)
            )
        return d

    return PlainValidator(check)


def integer(*, max_digits: int, ge: int | None = None, required: bool = True) -> PlainValidator:
    """n..N integer (JSON number or digit string)."""

    def check(v: object) -> int | None:
        if _blank(v):
            return _missing(required)
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise _err("type", "must be an integer, got {got}", got=_type_name(v))
        if isinstance(v, float):
            if not v.is_integer():
                raise _err("type", "must be an integer, got {got}", got=repr(v))
            n = int(v)
        elif isinstance(v, str):
            if re.match(r"^-?[0-9]+$", v) is None:
                raise _err("format", "must be an integer, got '{got}'", got=v)
            n = int(v)
        else:
            n = v
        if abs(n) >= 10**max_digits:
            raise _err("length", "allows at most {n} digits, got {got}", n=max_digits, got=n)
        if ge is not None and n < ge:
            raise _err("range", "must be at least {lim}, got {got}", lim=ge, got=n)
        return n

    return PlainValidator(check)


def float_(*, lo: float, hi: float, unit: str, required: bool = True) -> PlainValidator:
    """Check a JSON number in [lo, hi] → float (coordinates and the like, not money)."""

    def check(v: object) -> float | None:
        if _blank(v):
            return _missing(required)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _err("type", "must be a number, got {got}", got=_type_name(v))
        x = float(v)
        if not (math.isfinite(x) and lo <= x <= hi):
            raise _err(
                "range", "must be within [{lo}, {hi}] {unit}, got {got}", lo=lo, hi=hi, unit=unit, got=v
            )
        return x

    return PlainValidator(check)


def _gazetteer_exists() -> Callable[[str], bool]:
    # Imported on use: geo.gazetteer loads its table lazily and etl must import without it in some tools.
    from geo import gazetteer

    return gazetteer.exists


def division(*, required: bool = True) -> PlainValidator:
    """GB/T 2260 county-level code: 6 digits, or 12 digits ending in ``000000``, known to the gazetteer."""

    def check(v: object) -> str | None:
        if _blank(v):
            return _missing(required)
        s = _as_str(v, allow_int=True)
        if len(s) > 12:
            raise _err("length", "must be at most {n} characters, got {got}", n=12, got=len(s))
        if _DIVISION_RE.match(s) is None:
            raise _err(
                "format", "must be a division code of 6 digits or 12 ending in 000000, got '{got}'", got=s
            )
        if not _gazetteer_exists()(s[:6]):
            raise _err("division", "'{got}' is not a GB/T 2260 division code", got=s)
        return s

    return PlainValidator(check)
