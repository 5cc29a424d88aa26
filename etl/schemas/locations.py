"""Column-wise parsing and checking of the ``locations`` list of a WLHY_WZ1001 position batch.

A batch carries up to 10,000 fixes; one pydantic object per fix costs more than the whole budget,
so the list is turned into numpy columns and every check runs on whole columns.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.beijing import OFFSET_S

__all__ = [
    "ACCURACY_COL_NAME",
    "ALTITUDE_COL_NAME",
    "DIRECTION_COL_NAME",
    "LATITUDE_COL_NAME",
    "LONGITUDE_COL_NAME",
    "MAX_LOCATIONS",
    "MAX_REPORTED_PER_CHECK",
    "SPEED_COL_NAME",
    "TIME_COL_NAME",
    "LocationColumns",
    "TimeWindow",
    "parse_locations",
    "time_window",
]

MAX_LOCATIONS = 10_000
#: Per (column, rule) only the first offending rows are reported; the last message gives the total.
MAX_REPORTED_PER_CHECK = 10

TIME_COL_NAME = "time_utc"  # datetime64[s], UTC (the wire's Beijing time minus 8 h)
LONGITUDE_COL_NAME = "longitude"  # degrees, in the batch's declared coordinateSystem
LATITUDE_COL_NAME = "latitude"
SPEED_COL_NAME = "speed_kmh"  # NaN when not sent
DIRECTION_COL_NAME = "direction_deg"  # degrees clockwise from north, NaN when not sent
ALTITUDE_COL_NAME = "altitude_m"
ACCURACY_COL_NAME = "accuracy_m"

# wire key → (column, required, lowest, highest, unit)
_NUMERIC = (
    ("longitude", LONGITUDE_COL_NAME, True, -180.0, 180.0, "degrees"),
    ("latitude", LATITUDE_COL_NAME, True, -90.0, 90.0, "degrees"),
    ("speed", SPEED_COL_NAME, False, 0.0, 250.0, "km/h"),
    ("direction", DIRECTION_COL_NAME, False, 0.0, 360.0, "degrees"),
    ("altitude", ALTITUDE_COL_NAME, False, -np.inf, np.inf, "m"),
    ("accuracy", ACCURACY_COL_NAME, False, 0.0, np.inf, "m"),
)
_BEIJING_OFFSET = np.timedelta64(OFFSET_S, "s")


@dataclass(frozen=True)
class TimeWindow:
    """When a platform's fixes may be (UTC bounds, inclusive) and how many Beijing days one message may span.

    A fix dated years away is either a broken clock or an attack: each distinct day is a ``position`` partition,
    created under one global lock, so a message of 10,000 fixes on 10,000 days would create 10,000 tables.
    """

    earliest_utc: dt.datetime
    latest_utc: dt.datetime
    max_days: int
    label: str = ""  # how the window was chosen, e.g. "now − 30 days … now + 10 min"

    @classmethod
    def around(cls, now_utc: dt.datetime, *, max_age: dt.timedelta, max_future: dt.timedelta,
               max_days: int) -> TimeWindow:
        """[now − max_age, now + max_future], at most ``max_days`` distinct Beijing days per message."""
        now_utc = now_utc.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
        label = f"now − {_human(max_age)} … now + {_human(max_future)}"
        return cls(now_utc - max_age, now_utc + max_future, max_days, label)


def _human(d: dt.timedelta) -> str:
    s = int(d.total_seconds())
    if s % 86400 == 0:
        return f"{s // 86400} days"
    if s % 60 == 0:
        return f"{s // 60} min"
    return f"{s} s"


_WINDOW: contextvars.ContextVar[TimeWindow | None] = contextvars.ContextVar("wlhy_position_window", default=None)


@contextlib.contextmanager
def time_window(window: TimeWindow | None) -> Iterator[None]:
    """Check fixes parsed inside this block against ``window`` (platforms' traffic: the exchange sets it).

    Outside such a block no window applies (bulk loads of history, the demo's direct load, unit tests).
    """
    token = _WINDOW.set(window)
    try:
        yield
    finally:
        _WINDOW.reset(token)


@dataclass(frozen=True, eq=False)
class LocationColumns:
    """The fixes of one batch as equal-length numpy arrays, in the order received.

    Attributes
    ----------
    time_utc : numpy.ndarray
        ``datetime64[s]``, UTC.
    longitude, latitude : numpy.ndarray
        float64 degrees (x = longitude, y = latitude) in the batch's ``coordinateSystem``.
    speed_kmh, direction_deg, altitude_m, accuracy_m : numpy.ndarray
        float64, NaN where the platform did not send the value.
    """

    time_utc: np.ndarray
    longitude: np.ndarray
    latitude: np.ndarray
    speed_kmh: np.ndarray
    direction_deg: np.ndarray
    altitude_m: np.ndarray
    accuracy_m: np.ndarray

    def __len__(self) -> int:
        """Return the number of fixes."""
        return len(self.time_utc)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Return ``{column name: array}`` with the ``*_COL_NAME`` keys."""
        return {
            TIME_COL_NAME: self.time_utc,
            LONGITUDE_COL_NAME: self.longitude,
            LATITUDE_COL_NAME: self.latitude,
            SPEED_COL_NAME: self.speed_kmh,
            DIRECTION_COL_NAME: self.direction_deg,
            ALTITUDE_COL_NAME: self.altitude_m,
            ACCURACY_COL_NAME: self.accuracy_m,
        }


def parse_locations(items: object) -> tuple[LocationColumns | None, list[tuple[str, str, str]]]:
    """Turn the wire ``locations`` list into columns and check every fix.

    Parameters
    ----------
    items : object
        The decoded JSON value of ``locations``: a list of objects with ``dateTime`` (``YYYYMMDDhhmmss``,
        Beijing time), ``longitude``, ``latitude`` (required), ``speed`` (km/h, 0..250), ``direction``
        (degrees, 0..360), ``altitude`` (m), ``accuracy`` (m, ≥ 0). Other keys are ignored.

    Returns
    -------
    columns : LocationColumns or None
        ``None`` when the list itself is unusable (not a list, empty, too long, items not objects).
    errors : list of (path, rule, message)
        Paths relative to ``locations``, e.g. ``"[17].latitude"``; rules from ``errors.RULES``.
    """
    if not isinstance(items, list):
        rule = "required" if items is None else "type"
        return None, [("", rule, "must be a list of location objects")]
    n = len(items)
    if not 1 <= n <= MAX_LOCATIONS:
        return None, [("", "multiplicity", f"must hold 1 to {MAX_LOCATIONS} items, got {n}")]
    if set(map(type, items)) != {dict}:
        bad = [i for i, d in enumerate(items) if not isinstance(d, dict)]
        return None, _capped(np.array(bad), "", "type", "must be an object")
    errors: list[tuple[str, str, str]] = []
    time_utc = _time_column(items, errors)
    window = _WINDOW.get()
    if window is not None:
        _check_window(time_utc, window, errors)
    numeric = {
        col: _numeric_column(items, key, col, req, lo, hi, unit, errors)
        for key, col, req, lo, hi, unit in _NUMERIC
    }
    return LocationColumns(time_utc=time_utc, **numeric), errors


def _capped(rows: np.ndarray, leaf: str, rule: str, message: str) -> list[tuple[str, str, str]]:
    """One error per offending row, for the first MAX_REPORTED_PER_CHECK rows only."""
    shown = rows[:MAX_REPORTED_PER_CHECK]
    out = [(f"[{i}]{'.' + leaf if leaf else ''}", rule, message) for i in shown.tolist()]
    if len(rows) > len(shown):
        path, rule_, msg = out[-1]
        out[-1] = (path, rule_, f"{msg} ({len(rows)} items fail this check, first {len(shown)} listed)")
    return out


def _time_column(items: list[dict], errors: list[tuple[str, str, str]]) -> np.ndarray:
    raw = [d.get("dateTime") for d in items]
    n = len(raw)
    missing = np.fromiter((v is None or v == "" for v in raw), bool, n)
    if missing.any():
        errors += _capped(np.flatnonzero(missing), "dateTime", "required", "is required")
    # Non-strings and wrong lengths become "" so the fixed-width unicode view below stays 14 wide.
    strs = [v if type(v) is str and len(v) == 14 else "" for v in raw]
    cp = np.array(strs, dtype="<U14").view(np.uint32).reshape(n, 14).astype(np.int64) - ord("0")
    well_formed = ((cp >= 0) & (cp <= 9)).all(axis=1)
    d = np.where(well_formed[:, None], cp, 0)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month, day = d[:, 4] * 10 + d[:, 5], d[:, 6] * 10 + d[:, 7]
    hour, minute, second = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13]
    month_ok = (month >= 1) & (month <= 12)
    first_of_month = ((year - 1970) * 12 + np.where(month_ok, month, 1) - 1).astype("datetime64[M]")
    days_in_month = (
        (first_of_month + 1).astype("datetime64[D]") - first_of_month.astype("datetime64[D]")
    ).astype(int)
    real = (
        well_formed
        & month_ok
        & (day >= 1)
        & (day <= days_in_month)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
    )
    bad = ~real & ~missing
    if bad.any():
        errors += _capped(
            np.flatnonzero(bad), "dateTime", "format", "must be a real date-time YYYYMMDDhhmmss"
        )
    seconds = (day - 1) * 86400 + hour * 3600 + minute * 60 + second
    local = first_of_month.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    return np.where(real, local - _BEIJING_OFFSET, np.datetime64("NaT", "s"))


def _wire_time(t: dt.datetime) -> str:
    return (t + dt.timedelta(seconds=OFFSET_S)).strftime("%Y%m%d%H%M%S")


def _check_window(time_utc: np.ndarray, window: TimeWindow, errors: list[tuple[str, str, str]]) -> None:
    """Fixes outside the window (``range`` on ``[i].dateTime``), and too many Beijing days (``range`` on the list)."""
    known = ~np.isnat(time_utc)
    lo = np.datetime64(window.earliest_utc, "s")
    hi = np.datetime64(window.latest_utc, "s")
    outside = known & ((time_utc < lo) | (time_utc > hi))
    if outside.any():
        errors += _capped(
            np.flatnonzero(outside), "dateTime", "range",
            f"must be within [{_wire_time(window.earliest_utc)}, {_wire_time(window.latest_utc)}] Beijing time "
            f"({window.label or 'the accepted window'})",
        )
    inside = known & ~outside
    if inside.any():
        days = np.unique((time_utc[inside] + _BEIJING_OFFSET).astype("datetime64[D]"))
        if len(days) > window.max_days:
            errors.append(("", "range", (f"fixes span {len(days)} Beijing days; at most {window.max_days} per "
                                         "message (send each day's fixes in their own messages)")))


def _numeric_column(
    items: list[dict],
    key: str,
    col: str,
    required: bool,
    lo: float,
    hi: float,
    unit: str,
    errors: list[tuple[str, str, str]],
) -> np.ndarray:
    raw = [d.get(key) for d in items]
    n = len(raw)
    if not set(map(type, raw)) <= {int, float, type(None)}:
        # Strings and booleans are not numbers here; blank them, report them, keep going column-wise.
        wrong = np.fromiter((v is not None and type(v) not in (int, float) for v in raw), bool, n)
        errors += _capped(np.flatnonzero(wrong), key, "type", "must be a JSON number")
        raw = [None if w else v for v, w in zip(raw, wrong.tolist())]
    else:
        wrong = np.zeros(n, bool)
    values = np.array(raw, dtype=np.float64)  # None → NaN
    absent = np.isnan(values) & ~wrong
    if required and absent.any():
        errors += _capped(np.flatnonzero(absent), key, "required", "is required")
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        out_of_range = present & ~(np.isfinite(values) & (values >= lo) & (values <= hi))
    if out_of_range.any():
        errors += _capped(
            np.flatnonzero(out_of_range), key, "range", f"must be within [{lo:g}, {hi:g}] {unit}"
        )
    return values
