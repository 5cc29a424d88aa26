"""Bulk position loading: day partitions on demand, binary COPY into a staging table, idempotent insert.

A fix's natural key is (reporting operator, vehicle, t, source) (spec/EXCHANGE.md §3): a re-sent fix is skipped,
never duplicated, so the loader stages rows with COPY and moves them with ``INSERT … ON CONFLICT DO NOTHING``.
The reporting operator is part of the key (``pk_position`` is (vehicle_number, plate_color, source, operator_id,
t)): another platform's fix of the same vehicle at the same time is a row of its own, so it can neither suppress
nor replace the owner's. BeiDou fixes come from the national platform and belong to no operator: their
``operator_id`` is :data:`NATIONAL_PLATFORM` (0), so each is stored once (``ck_position_owner`` holds source 2
and operator 0 together). Sandbox (joint-test) fixes are not written here at all (``etl.intake.pipeline``).

This module is the only writer of ``position`` rows: the source codes, the H3 resolution and the H3 cell of each
fix are decided here, so intake, the BeiDou fetch and bulk loaders cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import psycopg

from core.beijing import OFFSET_S
from geo import hexes

__all__ = ["H3_RES", "NATIONAL_PLATFORM", "POSITION_COLUMNS", "SOURCE_APP", "SOURCE_BEIDOU", "SOURCE_NAMES",
           "ensure_partitions", "load_positions"]

#: ``position.source``: the platform's driver app, or the national freight-vehicle platform (BeiDou terminal).
SOURCE_APP = 1
SOURCE_BEIDOU = 2
SOURCE_NAMES = {SOURCE_APP: "app", SOURCE_BEIDOU: "beidou"}
#: ``position.operator_id`` of a BeiDou fix (the national platform's, no operator's); app fixes carry their
#: reporting operator's id (never 0).
NATIONAL_PLATFORM = 0
#: H3 resolution of ``position.h3``: ~0.2 km cells, fine enough for place matching, coarse enough for roll-ups.
H3_RES = 9

# Column name -> PostgreSQL type used for binary COPY.  Coordinates are WGS-84 lon/lat; the geometry is
# built server-side from them (cheaper than serialising WKB in Python).
POSITION_COLUMNS: dict[str, str] = {
    "t": "timestamptz",
    "vehicle_number": "text",
    "plate_color": "text",
    "source": "int2",
    "lon": "float8",
    "lat": "float8",
    "h3": "int8",
    "speed_kmh": "float4",
    "direction": "float4",
    "altitude_m": "float4",
    "accuracy_m": "float4",
    "driving_license": "text",
    "operator_id": "int8",
    "shipping_note_number": "text",
    "serial_number": "text",
    "declared_crs": "int2",
    "message_id": "int8",
}
_REQUIRED = ("t", "vehicle_number", "plate_color", "source", "lon", "lat")

_STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS position_staging ("
    + ", ".join(f"{c} {t}" for c, t in POSITION_COLUMNS.items())
    + ") ON COMMIT DELETE ROWS"
)
_MOVE_SQL = """
INSERT INTO position (t, vehicle_number, plate_color, source, geom, h3, speed_kmh, direction, altitude_m,
                      accuracy_m, driving_license, operator_id, shipping_note_number, serial_number,
                      declared_crs, message_id)
SELECT t, vehicle_number, plate_color, source, ST_SetSRID(ST_MakePoint(lon, lat), 4326), h3, speed_kmh, direction,
       altitude_m, accuracy_m, driving_license, operator_id, shipping_note_number, serial_number, declared_crs,
       message_id
FROM position_staging
ON CONFLICT DO NOTHING
"""


def ensure_partitions(conn: psycopg.Connection, days: list[dt.date]) -> None:
    """Create the ``position`` day partitions (Beijing days) that do not exist yet.

    Not cached in-process on purpose: a partition created in a transaction that is later rolled back is gone,
    and a stale cache would then fail every fix of that day.
    """
    for day in sorted(set(days)):
        conn.execute("SELECT wlhy_ensure_position_partition(%s)", (day,))


def beijing_days(t_utc: np.ndarray) -> list[dt.date]:
    """Distinct Beijing calendar days of an array of UTC ``datetime64`` values."""
    t = np.asarray(t_utc, dtype="datetime64[us]")
    if t.size == 0:
        return []
    days = np.unique((t + np.timedelta64(OFFSET_S, "s")).astype("datetime64[D]"))
    return [d.item() for d in days]


def load_positions(conn: psycopg.Connection, columns: Mapping[str, Any]) -> int:
    """Insert fixes given column-wise; returns how many were new (re-sent fixes are skipped).

    Parameters
    ----------
    conn : psycopg.Connection
        An open connection; the caller owns the transaction (nothing is committed here).
    columns : mapping of column name to array or scalar
        Keys from ``POSITION_COLUMNS`` but ``h3`` (computed here at ``H3_RES``); ``t`` is UTC ``datetime64``,
        ``lon``/``lat`` WGS-84 degrees, ``source`` one of ``SOURCE_NAMES``.  A scalar is broadcast to every row
        (e.g. one vehicle per message).  ``operator_id`` is required for app fixes (the reporting operator) and
        defaults to :data:`NATIONAL_PLATFORM` for BeiDou fixes.

    Returns
    -------
    int
        Number of rows inserted.
    """
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise ValueError(f"load_positions: missing columns {missing}; required {list(_REQUIRED)}")
    unknown = set(columns) - set(POSITION_COLUMNS) | ({"h3"} & set(columns))
    if unknown:
        raise ValueError(f"load_positions: unknown columns {sorted(unknown)}")
    columns = _with_owner(columns)
    t = np.asarray(columns["t"], dtype="datetime64[us]")
    n = t.size
    if n == 0:
        return 0
    ensure_partitions(conn, beijing_days(t))
    lon, lat = np.broadcast_to(np.asarray(columns["lon"], dtype=np.float64), (n,)), columns["lat"]
    columns = {**columns, "h3": hexes.points_to_cells(lon, lat, H3_RES)}
    names = list(columns)
    lists = [_as_list(columns[c], c, n) for c in names]
    with conn.cursor() as cur:
        cur.execute(_STAGING_DDL)
        with cur.copy(f"COPY position_staging ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types([POSITION_COLUMNS[c] for c in names])
            for row in zip(*lists):
                cp.write_row(row)
        cur.execute(_MOVE_SQL)
        inserted = cur.rowcount
        cur.execute("TRUNCATE position_staging")
    return inserted


def _with_owner(columns: Mapping[str, Any]) -> Mapping[str, Any]:
    """``columns`` with the fixes' owner: BeiDou fixes default to the national platform, app fixes must say."""
    source, owner = columns["source"], columns.get("operator_id")
    if np.ndim(source) == 0:
        if int(source) == SOURCE_BEIDOU:
            if owner is None:
                return {**columns, "operator_id": NATIONAL_PLATFORM}
            if np.ndim(owner) == 0 and int(owner) != NATIONAL_PLATFORM:
                raise ValueError("load_positions: BeiDou fixes belong to no operator (operator_id 0)")
        elif np.ndim(owner) == 0 and (_is_nan(owner) or int(owner) == NATIONAL_PLATFORM):
            raise ValueError("load_positions: app fixes need their reporting operator_id")
    elif owner is None:
        raise ValueError("load_positions: operator_id is required when sources are mixed")
    return columns  # arrays are checked by the database (ck_position_owner)


def _as_list(value: Any, name: str, n: int) -> list:
    if name == "t":
        # psycopg needs aware datetimes for timestamptz
        return [x.replace(tzinfo=dt.UTC) for x in np.asarray(value, dtype="datetime64[us]").tolist()]
    if np.ndim(value) == 0:
        return [None if _is_nan(value) else _py(value)] * n
    arr = np.asarray(value)
    if len(arr) != n:
        raise ValueError(f"load_positions: column {name!r} has {len(arr)} values, expected {n}")
    if arr.dtype.kind == "f":
        out = arr.astype(float).tolist()
        if np.isnan(arr).any():
            out = [None if x != x else x for x in out]
        return out
    return arr.tolist()


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and np.isnan(value))
