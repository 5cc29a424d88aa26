"""A waybill's fixes and places as the database holds them (spec/RULES.md §2), read for verification and the map.

An item (one vehicle of a waybill, ``waybill_vehicle``) is checked in its window [despatch − 2 h, receipt + 2 h]
(:func:`window`) against the fixes of its plate in that window, both sources: the driver app (source 1) as
reported by the waybill's own operator (``position.operator_id``: another platform's app fixes for the same
plate are that platform's business) and BeiDou (source 2, the national platform's). The periods of the same
vehicle's other waybills that reach into the window (:func:`other_periods_for_items`) go with them: fixes
in this item's margins that fall in those periods are not this item's (spec/RULES.md §2). Its loading and unloading places come from the item's coordinates (3 km) or, without them,
from its divisions: the division's real outline (:mod:`geo.outlines`) grown by :data:`DIVISION_BUFFER_M`, or the
gazetteer's point and radius for a division without an outline. One item at a time (:func:`fixes_for_item`,
:func:`places_for_item`) or many with one query each (:func:`fixes_for_items`, :func:`places_for_items`, the
back-fill path).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo import gazetteer, outlines
from store.models import Waybill, WaybillVehicle
from trajectories.columns import (
    FOR_THIS_WAYBILL,
    LAT,
    LON,
    SOURCE,
    SOURCE_APP,
    SOURCE_BEIDOU,
    SPEED_REPORTED,
    T,
)
from trajectories.verify import Place

__all__ = [
    "COORDINATE_RADIUS_M",
    "DIVISION_BUFFER_M",
    "UNKNOWN_DIVISION_RADIUS_M",
    "WINDOW_PAD",
    "WaybillNotFoundError",
    "fixes_for_item",
    "fixes_for_items",
    "get_waybill",
    "other_periods_for_item",
    "other_periods_for_items",
    "place_properties",
    "places_for_item",
    "places_for_items",
    "signed_app_fixes",
    "waybill_items",
    "window",
]

WINDOW_PAD = dt.timedelta(hours=2)
COORDINATE_RADIUS_M = 3000.0
# Buffer around a division's outline: the outlines are simplified (up to ~430 m off, neighbours' edges up to
# twice that) and a yard on the border road is still that division's.
DIVISION_BUFFER_M = 2000.0
# Used when a division code is not in the gazetteer at all (a county radius is ~20-40 km).
UNKNOWN_DIVISION_RADIUS_M = 30000.0

_SOURCES = (SOURCE_APP, SOURCE_BEIDOU)


class WaybillNotFoundError(LookupError):
    """No waybill has this id."""


def get_waybill(session: Session, waybill_id: int) -> Waybill:
    """The waybill, or :class:`WaybillNotFoundError`."""
    waybill = session.get(Waybill, waybill_id)
    if waybill is None:
        raise WaybillNotFoundError(f"no waybill with id {waybill_id}")
    return waybill


def waybill_items(session: Session, waybill_id: int) -> list[WaybillVehicle]:
    """The waybill's vehicle items in ``seq`` order (none for an unknown id)."""
    return list(session.scalars(
        select(WaybillVehicle).where(WaybillVehicle.waybill_id == waybill_id).order_by(WaybillVehicle.seq)
    ))


def window(item: WaybillVehicle) -> tuple[dt.datetime, dt.datetime]:
    """The item's verification window: [despatch − :data:`WINDOW_PAD`, receipt + :data:`WINDOW_PAD`].

    A receipt before the despatch (INTAKE_TIME_ORDER's business) is read as the two times swapped, as
    :func:`trajectories.verify.verify` does.
    """
    first, last = sorted((item.despatch_at, item.receipt_at))
    return first - WINDOW_PAD, last + WINDOW_PAD


# --- fixes ----------------------------------------------------------------------------------------------------

# One row per item and source, each column one binary array (array_send): a chunk's hundreds of thousands of fixes
# arrive as a few hundred rows and become NumPy arrays without a Python object per fix (np.frombuffer), where row
# tuples cost ~1.5 ms of CPU per item to fetch and split. Each source is its own range of the primary key (plate,
# source, operator, t): an app and a BeiDou scan of the window, not the plate's whole day filtered. date_part's
# float8 epoch, not extract's numeric: its error stays under half a microsecond until 2100, so the rounded
# microseconds are exact. Elements are never NULL (speed NaN, note match false), so every element has one width.
_AGGREGATES = """count(*) AS n,
           array_send(array_agg(CAST(round(date_part('epoch', p.t) * 1000000) AS bigint))) AS t_us,
           array_send(array_agg(ST_X(p.geom))) AS lon, array_send(array_agg(ST_Y(p.geom))) AS lat,
           array_send(array_agg(coalesce(CAST(p.speed_kmh AS float8), 'NaN'))) AS speed,
           array_send(array_agg(coalesce(p.shipping_note_number = i.note, false))) AS mine"""
_BULK_FIXES_SQL = f"""
    WITH items AS (
        SELECT * FROM unnest(CAST(%(ids)s AS bigint[]), CAST(%(plates)s AS text[]), CAST(%(colors)s AS text[]),
                             CAST(%(t0)s AS timestamptz[]), CAST(%(t1)s AS timestamptz[]), CAST(%(ops)s AS bigint[]),
                             CAST(%(notes)s AS text[])) AS i(item_id, vn, pc, t0, t1, op, note)
    )
    SELECT i.item_id, f.source, f.t_us, f.lon, f.lat, f.speed, f.mine
    FROM items i CROSS JOIN LATERAL (
        SELECT CAST({SOURCE_APP} AS smallint) AS source, {_AGGREGATES}
        FROM position p
        WHERE p.vehicle_number = i.vn AND p.plate_color = i.pc AND p.source = {SOURCE_APP} AND p.operator_id = i.op
          AND p.t BETWEEN i.t0 AND i.t1 AND p.t BETWEEN %(lo)s AND %(hi)s AND {SOURCE_APP} = ANY(%(sources)s)
        UNION ALL
        SELECT CAST({SOURCE_BEIDOU} AS smallint), {_AGGREGATES}
        FROM position p
        WHERE p.vehicle_number = i.vn AND p.plate_color = i.pc AND p.source = {SOURCE_BEIDOU} AND p.operator_id = 0
          AND p.t BETWEEN i.t0 AND i.t1 AND p.t BETWEEN %(lo)s AND %(hi)s AND {SOURCE_BEIDOU} = ANY(%(sources)s)
    ) f
    WHERE f.n > 0
    """


def fixes_for_item(
    session: Session, item: WaybillVehicle, *, sources: tuple[int, ...] = _SOURCES
) -> dict[int, pd.DataFrame]:
    """The plate's fixes in the item's window, one frame per source (``t, lon, lat, source, speed_reported_kmh,
    for_this_waybill``), in time order.

    App fixes are the waybill's operator's only; BeiDou fixes are the vehicle's. Every such fix in the window
    is returned, whichever shipping note it was sent with (margins: see :func:`other_periods_for_item`); the column
    ``for_this_waybill`` (sent with this waybill's shipping note) lets evidence say how many were sent for it.
    """
    return fixes_for_items(session, [item], sources=sources)[item.id]


def fixes_for_items(
    session: Session, items: Sequence[WaybillVehicle], *, sources: tuple[int, ...] = _SOURCES
) -> dict[int, dict[int, pd.DataFrame]]:
    """Every item's fixes in one query: ``{item id: {source: frame}}``, the frames of :func:`fixes_for_item`
    (empty, with the same columns and dtypes, where a source has none)."""
    empty = _fixes_frame(*(np.empty(0, d) for d in (np.int64, np.float64, np.float64, np.float64, bool)), source=0)
    out = {i.id: dict.fromkeys(sources, empty) for i in items}
    if not items:
        return out
    windows = [window(i) for i in items]
    waybills = {r[0]: r for r in session.execute(select(
        Waybill.id, Waybill.operator_id, Waybill.shipping_note_number).where(
        Waybill.id.in_({i.waybill_id for i in items}))).all()}
    none = (None, None, None)
    params = {
        "ids": [i.id for i in items], "plates": [i.vehicle_number for i in items],
        "colors": [i.plate_color for i in items], "t0": [w[0] for w in windows], "t1": [w[1] for w in windows],
        "ops": [waybills.get(i.waybill_id, none)[1] for i in items],
        "notes": [waybills.get(i.waybill_id, none)[2] for i in items],
        "lo": min(w[0] for w in windows), "hi": max(w[1] for w in windows), "sources": list(sources),
    }
    with session.connection().connection.driver_connection.cursor() as cur:
        rows = cur.execute(_BULK_FIXES_SQL, params).fetchall()
    if not rows:
        return out
    columns: list[list[np.ndarray]] = [[], [], [], [], []]
    for _item_id, _source, *arrays in rows:
        t_us, *rest = (_array(a, kind) for a, kind in zip(arrays, (">i8", ">f8", ">f8", ">f8", "u1")))
        if len(t_us) > 1 and not (np.diff(t_us) > 0).all():  # aggregated in scan order: time order made sure here
            order = np.argsort(t_us, kind="stable")
            t_us, rest = t_us[order], [a[order] for a in rest]
        for column, a in zip(columns, (t_us, *rest)):
            column.append(a)
    sizes = [len(a) for a in columns[0]]
    # One frame for the chunk, sliced per item and source: a pandas frame costs ~0.2–0.4 ms to build, a slice 0.07.
    t_us, lon, lat, speed, mine = (np.concatenate(c) for c in columns)
    df = _fixes_frame(t_us, lon, lat, speed, mine.astype(bool),
                      source=np.repeat(np.asarray([r[1] for r in rows], dtype=np.int16), sizes))
    ends = np.cumsum(sizes).tolist()
    for (item_id, source, *_), lo, hi in zip(rows, [0, *ends[:-1]], ends):
        out[int(item_id)][int(source)] = df.iloc[lo:hi].reset_index(drop=True)
    return out


_ARRAY_HEADER = 20  # array_send of a one-dimensional array: ndim, has-nulls flag, element type, length, lower bound


def _array(data: bytes, element: str) -> np.ndarray:
    """The elements of a non-empty, NULL-free one-dimensional array sent by ``array_send`` (big-endian, each
    preceded by its byte length), as a native NumPy array."""
    values = np.frombuffer(data, dtype=[("length", ">i4"), ("value", element)], offset=_ARRAY_HEADER)["value"]
    return values.astype(values.dtype.newbyteorder("="))


# The app fixes the copy index signs (trajectories.signatures.index_items): each non-sandbox item's own operator's,
# in its transport period [despatch, receipt]; the same rows as crosscheck's reading, built column-wise.
_SIGNED_FIXES_SQL = (
    """
    WITH items AS (
        SELECT wv.id AS item_id, wv.vehicle_number AS vn, wv.plate_color AS pc, wv.despatch_at AS t0,
               wv.receipt_at AS t1, w.operator_id AS op
        FROM waybill_vehicle wv JOIN waybill w ON w.id = wv.waybill_id
        WHERE wv.id = ANY(%(ids)s) AND NOT w.is_sandbox
    )
    SELECT i.item_id, date_part('epoch', p.t) AS t_s, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat, p.h3
    FROM items i JOIN position p
      ON p.vehicle_number = i.vn AND p.plate_color = i.pc AND p.source = 1 AND p.t BETWEEN i.t0 AND i.t1
     AND p.operator_id = i.op
    WHERE p.t BETWEEN %(lo)s AND %(hi)s
    ORDER BY i.item_id, p.t
    """
)
_SIGNED_COLUMNS = ["item_id", "t_s", "lon", "lat", "h3"]


def signed_app_fixes(session: Session, items: Sequence[WaybillVehicle]) -> pd.DataFrame:
    """The items' app fixes for the copy index (``item_id, t_s, lon, lat, h3``), to hand to
    :func:`trajectories.signatures.index_items` (``app=``) instead of letting it read them again."""
    if not items:
        return pd.DataFrame(columns=_SIGNED_COLUMNS)
    with session.connection().connection.driver_connection.cursor() as cur:
        rows = cur.execute(_SIGNED_FIXES_SQL, {
            "ids": [i.id for i in items], "lo": min(i.despatch_at for i in items),
            "hi": max(i.receipt_at for i in items)}).fetchall()
    if not rows:
        return pd.DataFrame(columns=_SIGNED_COLUMNS)
    cols = list(zip(*rows))
    if any(v is None for v in cols[4]):  # a fix without a cell: the generic (slow) construction handles it
        return pd.DataFrame(rows, columns=_SIGNED_COLUMNS)
    return pd.DataFrame({"item_id": np.asarray(cols[0], dtype=np.int64), "t_s": np.asarray(cols[1], dtype=np.float64),
                         "lon": np.asarray(cols[2], dtype=np.float64), "lat": np.asarray(cols[3], dtype=np.float64),
                         "h3": np.asarray(cols[4], dtype=np.int64)})


_OTHER_PERIODS_SQL = text(
    """
    WITH items AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:plates AS text[]), CAST(:colors AS text[]),
                             CAST(:t0 AS timestamptz[]), CAST(:t1 AS timestamptz[])) AS i(item_id, vn, pc, t0, t1)
    )
    SELECT i.item_id, o.despatch_at, o.receipt_at
    FROM items i JOIN waybill_vehicle o
      ON o.vehicle_number = i.vn AND o.plate_color = i.pc AND o.id <> i.item_id
     AND o.despatch_at < i.t1 AND o.receipt_at > i.t0
    JOIN waybill w ON w.id = o.waybill_id
    WHERE NOT w.is_sandbox AND o.despatch_at < :hi AND o.receipt_at > :lo
    ORDER BY i.item_id, o.despatch_at
    """
)


def other_periods_for_item(session: Session, item: WaybillVehicle) -> list[tuple[dt.datetime, dt.datetime]]:
    """Transport periods [despatch, receipt] of the same vehicle's other waybill items reaching into the item's
    window: the previous and next trips whose fixes in the margins are theirs, not this item's."""
    return other_periods_for_items(session, [item])[item.id]


def other_periods_for_items(
    session: Session, items: Sequence[WaybillVehicle]
) -> dict[int, list[tuple[dt.datetime, dt.datetime]]]:
    """:func:`other_periods_for_item` for many items with one query: ``{item id: [(despatch, receipt), ...]}``."""
    out: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {i.id: [] for i in items}
    if not items:
        return out
    windows = [window(i) for i in items]
    rows = session.execute(_OTHER_PERIODS_SQL, {
        "ids": [i.id for i in items], "plates": [i.vehicle_number for i in items],
        "colors": [i.plate_color for i in items], "t0": [w[0] for w in windows], "t1": [w[1] for w in windows],
        "lo": min(w[0] for w in windows), "hi": max(w[1] for w in windows),
    }).all()
    for item_id, a, b in rows:
        out[int(item_id)].append((a, b))
    return out


def _fixes_frame(t_us: np.ndarray, lon: np.ndarray, lat: np.ndarray, speed: np.ndarray, mine: np.ndarray, *,
                 source: int | np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        T: pd.DatetimeIndex(t_us.view("datetime64[us]")).tz_localize("UTC"),
        LON: lon, LAT: lat, SOURCE: np.broadcast_to(np.asarray(source, dtype=np.int16), t_us.shape).copy(),
        SPEED_REPORTED: speed, FOR_THIS_WAYBILL: mine,
    })


# --- places ---------------------------------------------------------------------------------------------------

_PLACES_SQL = text(
    """
    SELECT id, ST_X(loading_geom) AS lx, ST_Y(loading_geom) AS ly, ST_X(receipt_geom) AS rx,
           ST_Y(receipt_geom) AS ry
    FROM waybill_vehicle WHERE id = ANY(:ids)
    """
)


def places_for_item(session: Session, item: WaybillVehicle) -> tuple[Place, Place]:
    """The item's (loading, unloading) places."""
    return places_for_items(session, [item])[item.id]


def places_for_items(session: Session, items: Sequence[WaybillVehicle]) -> dict[int, tuple[Place, Place]]:
    """Every item's (loading, unloading) places with one query: ``{item id: (loading, unloading)}``.

    A place is the item's point with :data:`COORDINATE_RADIUS_M` when the platform gave coordinates, else its
    division's outline grown by :data:`DIVISION_BUFFER_M` (``Place.outline``), else (no outline) the division's
    point and radius from the gazetteer (:data:`UNKNOWN_DIVISION_RADIUS_M` for an unknown code).
    """
    by_id = {i.id: i for i in items}
    return {r.id: _places_of(by_id[r.id], r) for r in session.execute(_PLACES_SQL, {"ids": list(by_id)})}


def _places_of(item: WaybillVehicle, row: Any) -> tuple[Place, Place]:
    coords = bool(item.places_from_coordinates)
    return (_place(row.lx, row.ly, item.loading_division_code, coords),
            _place(row.rx, row.ry, item.receipt_division_code, coords))


def _place(lon: float | None, lat: float | None, code: str, from_coordinates: bool) -> Place:
    division = gazetteer.get(code)
    if lon is None or lat is None:
        lon, lat = (division.lon, division.lat) if division is not None else (float("nan"), float("nan"))
        from_coordinates = False
    with_outline = False
    if from_coordinates:
        radius = COORDINATE_RADIUS_M
    elif code and outlines.has_outline(code):
        radius, with_outline = DIVISION_BUFFER_M, True
    else:
        radius = float(division.radius_m) if division is not None else UNKNOWN_DIVISION_RADIUS_M
    return Place(lon=float(lon), lat=float(lat), radius_m=radius, from_coordinates=from_coordinates,
                 division_code=code, outline=with_outline)


def place_properties(place: Place) -> dict[str, Any]:
    """A place as JSON properties (``lon, lat, radiusM, fromCoordinates, divisionCode, outline``): evidence and
    the map (``outline``: matched against the division's outline grown by ``radiusM``)."""
    return {"lon": place.lon, "lat": place.lat, "radiusM": place.radius_m,
            "fromCoordinates": bool(place.from_coordinates), "divisionCode": place.division_code,
            "outline": bool(place.outline)}
