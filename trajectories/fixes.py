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
from trajectories.columns import LAT, LON, SOURCE, SOURCE_APP, SOURCE_BEIDOU, SPEED_REPORTED, T
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

_FIXES_SQL = text(
    """
    SELECT CAST(round(date_part('epoch', t) * 1000000) AS bigint) AS t_us, ST_X(geom) AS lon, ST_Y(geom) AS lat,
           source, speed_kmh, shipping_note_number
    FROM position
    WHERE vehicle_number = :vehicle_number AND plate_color = :plate_color AND source = ANY(:sources)
      AND t BETWEEN :t0 AND :t1
      AND (source <> 1 OR operator_id = (SELECT operator_id FROM waybill WHERE id = :waybill_id))
    ORDER BY source, t
    """
)
# Run on the driver cursor (psycopg placeholders): plain tuples, no SQLAlchemy Row per fix. date_part's float8
# epoch, not extract's numeric (a third of the query's time): its error stays under half a microsecond until 2100,
# so the rounded microseconds are exact.
_BULK_FIXES_SQL = (
    """
    WITH items AS (
        SELECT * FROM unnest(CAST(%(ids)s AS bigint[]), CAST(%(plates)s AS text[]), CAST(%(colors)s AS text[]),
                             CAST(%(t0)s AS timestamptz[]), CAST(%(t1)s AS timestamptz[]), CAST(%(ops)s AS bigint[]))
                      AS i(item_id, vn, pc, t0, t1, op)
    )
    SELECT i.item_id, CAST(round(date_part('epoch', p.t) * 1000000) AS bigint) AS t_us, ST_X(p.geom) AS lon,
           ST_Y(p.geom) AS lat, p.source, p.speed_kmh, p.shipping_note_number
    FROM items i JOIN position p
      ON p.vehicle_number = i.vn AND p.plate_color = i.pc AND p.t BETWEEN i.t0 AND i.t1
     AND (p.source <> 1 OR p.operator_id = i.op)
    WHERE p.t BETWEEN %(lo)s AND %(hi)s
    ORDER BY i.item_id, p.source, p.t
    """
)


def fixes_for_item(
    session: Session, item: WaybillVehicle, *, sources: tuple[int, ...] = _SOURCES
) -> dict[int, pd.DataFrame]:
    """The plate's fixes in the item's window, one frame per source (``t, lon, lat, source, speed_reported_kmh``).

    App fixes are the waybill's operator's only; BeiDou fixes are the vehicle's. Every such fix in the window
    is returned, whichever shipping note it was sent with (margins: see :func:`other_periods_for_item`); the column
    ``shipping_note_number`` is kept so evidence can say how many were sent for this waybill.
    """
    t0, t1 = window(item)
    rows = session.execute(_FIXES_SQL, {
        "vehicle_number": item.vehicle_number, "plate_color": item.plate_color, "sources": list(sources),
        "t0": t0, "t1": t1, "waybill_id": item.waybill_id,
    }).all()
    return _by_source(_fixes_frame(rows), sources)


def fixes_for_items(session: Session, items: Sequence[WaybillVehicle]) -> dict[int, dict[int, pd.DataFrame]]:
    """Every item's fixes in one query (the plate index per partition): ``{item id: {source: frame}}``.

    The frames are those of :func:`fixes_for_item` (both sources, empty where there are none).
    """
    empty = _fixes_frame([])
    out = {i.id: dict.fromkeys(_SOURCES, empty) for i in items}
    if not items:
        return out
    windows = [window(i) for i in items]
    ops = dict(session.execute(select(Waybill.id, Waybill.operator_id).where(
        Waybill.id.in_({i.waybill_id for i in items}))).all())
    params = {
        "ops": [ops.get(i.waybill_id) for i in items],
        "ids": [i.id for i in items], "plates": [i.vehicle_number for i in items],
        "colors": [i.plate_color for i in items], "t0": [w[0] for w in windows], "t1": [w[1] for w in windows],
        "lo": min(w[0] for w in windows), "hi": max(w[1] for w in windows),
    }
    with session.connection().connection.driver_connection.cursor() as cur:
        rows = cur.execute(_BULK_FIXES_SQL, params).fetchall()
    if not rows:
        return out
    # one list per column (a third of the time of zip(*rows) on a chunk's hundreds of thousands of rows)
    cols = [[r[k] for r in rows] for k in range(7)]
    ids = np.asarray(cols[0], dtype=np.int64)
    src = np.asarray(cols[4], dtype=np.int16)
    df = _fixes_frame(cols[1:], columns=True)
    # Rows come ordered by (item, source, t): each item's source is one contiguous slice.
    cuts = np.flatnonzero((np.diff(ids) != 0) | (np.diff(src) != 0)) + 1
    for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(ids)].tolist()):
        item_id, source = int(ids[lo]), int(src[lo])
        if source in _SOURCES:  # a source without fixes keeps the empty frame (same columns and dtypes)
            out[item_id][source] = df.iloc[lo:hi].reset_index(drop=True)
    return out


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


def _by_source(df: pd.DataFrame, sources: tuple[int, ...]) -> dict[int, pd.DataFrame]:
    src = df[SOURCE].to_numpy()
    return {s: df.loc[src == s].reset_index(drop=True) for s in sources}


def _fixes_frame(rows: Sequence, *, columns: bool = False) -> pd.DataFrame:
    # Column-wise from the row tuples (or ``columns``: already the columns): DataFrame(rows) probes every Row
    # object and is ~10x slower. Times come as integer epoch microseconds: building timestamps from datetime
    # objects was the slow part.
    cols = rows if columns else (list(zip(*rows)) if rows else [()] * 6)
    return pd.DataFrame({
        T: pd.DatetimeIndex(np.asarray(cols[0], dtype=np.int64).view("datetime64[us]")).tz_localize("UTC"),
        LON: np.asarray(cols[1], dtype=np.float64),
        LAT: np.asarray(cols[2], dtype=np.float64),
        SOURCE: np.asarray(cols[3], dtype=np.int16),
        SPEED_REPORTED: np.asarray([np.nan if v is None else v for v in cols[4]], dtype=np.float64),
        "shipping_note_number": pd.Series(cols[5], dtype=object),
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
