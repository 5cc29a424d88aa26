"""The waybill on a map: fixes, cleaned trajectory per item and source, stops, places, verdict and evidence, as GeoJSON.

``trajectory_geojson_bytes`` is what the API sends (the heavy parts built as JSON text by PostgreSQL and spliced in),
``trajectory_geojson`` the same as Python objects. Reads what :mod:`trajectories.verification` stored.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from auth.scope import Scope
from store.models import Verification
from trajectories.columns import SOURCE_APP, SOURCE_BEIDOU, SOURCE_NAMES
from trajectories.fixes import get_waybill, place_properties, places_for_items, waybill_items, window

__all__ = ["fixes_in_box", "trajectory_geojson", "trajectory_geojson_bytes"]


def _circle(lon: float, lat: float, radius_m: float, n: int = 48) -> list[list[float]]:
    """A closed ring approximating a circle on the sphere (good to < 0.1 % at county sizes)."""
    bearing = np.linspace(0.0, 2 * np.pi, n + 1)
    d = radius_m / 6_371_008.8
    lat1, lon1 = np.radians(lat), np.radians(lon)
    lat2 = np.arcsin(np.sin(lat1) * np.cos(d) + np.cos(lat1) * np.sin(d) * np.cos(bearing))
    lon2 = lon1 + np.arctan2(np.sin(bearing) * np.sin(d) * np.cos(lat1), np.cos(d) - np.sin(lat1) * np.sin(lat2))
    ring = np.column_stack([np.degrees(lon2), np.degrees(lat2)]).round(6)
    ring[-1] = ring[0]
    return ring.tolist()


def _place_geometry(place) -> dict[str, Any]:
    """The place as matched: its division's outline (the buffer is ``radiusM`` in the properties), or a circle."""
    if place.outline and place.division_code:
        geom = _outline_geojson(place.division_code)
        if geom is not None:
            return geom
    return {"type": "Polygon", "coordinates": [_circle(place.lon, place.lat, place.radius_m)]}


@lru_cache(maxsize=512)
def _outline_geojson(code: str) -> dict[str, Any] | None:
    # Cached per division: a county outline has thousands of vertices and the map is asked for often.
    import shapely

    from geo import outlines

    geom = outlines.outline(code)
    return None if geom is None else json.loads(shapely.to_geojson(shapely.set_precision(geom, 1e-5)))


# The fixes of one item, one GeoJSON Feature per source, built as JSON text by PostgreSQL: reading 10,000 rows into
# Python and serialising them again was most of the endpoint's time. Same window and index path as
# trajectories.fixes.fixes_for_item.
# ST_AsGeoJSON's 6 decimals ≈ 0.1 m; date_part gives float8 epoch seconds, printed as Python prints the same floats.
# The fixes of one item a viewer is shown: the waybill's platform's app fixes and the national BeiDou track.
_SHOWN_FIXES = """
    FROM position
    WHERE vehicle_number = :vehicle_number AND plate_color = :plate_color AND source = ANY(:sources)
      AND operator_id IN (:operator_id, 0)
      AND t BETWEEN :t0 AND :t1
"""
_GEOJSON_FIXES_SQL = text(
    """
    SELECT '{"type":"Feature","geometry":' || ST_AsGeoJSON(ST_Collect(geom ORDER BY t), 6)
           || ',"properties":{"kind":"fixes","seq":' || CAST(:seq AS integer)
           || ',"source":' || to_json(CASE source WHEN 1 THEN 'app' ELSE 'beidou' END)
           || ',"n":' || count(*)
           || ',"t":' || array_to_json(array_agg(date_part('epoch', t) ORDER BY t))
           || '}}' AS feature
    """ + _SHOWN_FIXES + """
    GROUP BY source
    ORDER BY source
    """
)
_GEOJSON_TRAJ_SQL = text(
    """
    SELECT waybill_vehicle_id, source, ST_AsGeoJSON(ST_Force2D(geom), 6) AS line, n_fixes, started_at, ended_at,
           length_m, coverage, max_gap_s, max_speed_kmh, stats, built_at
    FROM trajectory WHERE waybill_id = :wid ORDER BY waybill_vehicle_id, source
    """
)


def _dumps(obj: Any) -> str:
    # As Starlette's JSONResponse writes JSON (compact, UTF-8 kept, NaN refused).
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _feature(geometry: str, properties: dict[str, Any]) -> str:
    """A Feature's JSON text around a geometry that is already GeoJSON text (from ST_AsGeoJSON)."""
    return '{"type":"Feature","geometry":' + geometry + ',"properties":' + _dumps(properties) + "}"


def _shown_window(item, scope: Scope | None):
    # A platform sees the BeiDou track only inside its own waybill's transport period, not the margins that may
    # hold the truck's trips for other platforms; regulators see the whole window.
    if scope is not None and scope.operator_id is not None:
        return item.despatch_at, item.receipt_at
    return window(item)


_BOX_FIXES_SQL = text(
    """
    SELECT source, ST_X(geom) AS lon, ST_Y(geom) AS lat, date_part('epoch', t) AS epoch
    """ + _SHOWN_FIXES + """
      AND ST_Intersects(geom, ST_MakeEnvelope(:west, :south, :east, :north, 4326))  -- exact: && alone is float4-loose
    ORDER BY source, t
    """
)


def fixes_in_box(session: Session, waybill_id: int, bbox: tuple[float, float, float, float], *,
                 scope: Scope | None = None) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The waybill's fixes inside ``bbox`` (west, south, east, north; WGS-84), per source name: lon, lat and epoch
    seconds, in time order. The same fixes as :func:`trajectory_geojson` shows this viewer, cut to the box: what a
    map zoomed into part of a huge waybill needs. The caller checks that the viewer may see the waybill.

    Raises
    ------
    WaybillNotFoundError
        If there is no such waybill.
    """
    waybill = get_waybill(session, waybill_id)
    west, south, east, north = (float(v) for v in bbox)
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in SOURCE_NAMES.values()}
    for item in waybill_items(session, waybill_id):
        t0, t1 = _shown_window(item, scope)
        for r in session.execute(_BOX_FIXES_SQL, {
                "vehicle_number": item.vehicle_number, "plate_color": item.plate_color,
                "sources": [SOURCE_APP, SOURCE_BEIDOU], "t0": t0, "t1": t1, "operator_id": waybill.operator_id,
                "west": west, "south": south, "east": east, "north": north}):
            rows[SOURCE_NAMES[r.source]].append((r.lon, r.lat, r.epoch))
    out = {}
    for name, got in rows.items():
        a = np.asarray(got, dtype=np.float64).reshape(-1, 3)
        out[name] = (a[:, 0], a[:, 1], a[:, 2])
    return out


def trajectory_geojson_bytes(session: Session, waybill_id: int, *, scope: Scope | None = None) -> bytes:
    """:func:`trajectory_geojson` as UTF-8 JSON, ready to send: the heavy parts never become Python objects.

    The fixes (a MultiPoint and its times per item and source) and the trajectory lines come from PostgreSQL as
    GeoJSON text and are spliced into the body as they are; only the small parts (places, evidence, stops,
    verdicts) are serialised in Python.

    Parameters
    ----------
    session : Session
    waybill_id : int

    Returns
    -------
    bytes
        The FeatureCollection described in :func:`trajectory_geojson`, coordinates with 6 decimals.

    Raises
    ------
    WaybillNotFoundError
        If there is no such waybill.
    """
    waybill = get_waybill(session, waybill_id)
    items = waybill_items(session, waybill_id)
    places = places_for_items(session, items)
    features: list[str] = []
    verifications: list[dict[str, Any]] = []
    current = {v.waybill_vehicle_id: v for v in session.scalars(
        select(Verification).where(Verification.waybill_id == waybill_id, Verification.current.is_(True)))}
    for item in items:
        t0, t1 = _shown_window(item, scope)
        features.extend(session.execute(_GEOJSON_FIXES_SQL, {
            "seq": item.seq, "vehicle_number": item.vehicle_number, "plate_color": item.plate_color,
            "sources": [SOURCE_APP, SOURCE_BEIDOU], "t0": t0, "t1": t1, "operator_id": waybill.operator_id,
        }).scalars())
        loading, unloading = places[item.id]
        for kind, place in (("loading_place", loading), ("unloading_place", unloading)):
            if np.isfinite(place.lon) and np.isfinite(place.lat):
                features.append(_dumps({"type": "Feature", "geometry": _place_geometry(place),
                                        "properties": {"kind": kind, "seq": item.seq, **place_properties(place)}}))
        ver = current.get(item.id)
        verifications.append({
            "seq": item.seq, "waybillVehicleId": item.id, "vehicleNumber": item.vehicle_number,
            "despatchAt": item.despatch_at.isoformat(), "receiptAt": item.receipt_at.isoformat(),
            "verdict": ver.verdict if ver else None, "rules": ver.rules if ver else [],
            "verifiedAt": ver.verified_at.isoformat() if ver else None,
        })
        if ver is not None and ver.evidence:
            for f in ver.evidence.get("features", []):
                props = dict(f.get("properties") or {})
                props.setdefault("seq", item.seq)
                props["evidenceKind"] = props.get("kind")
                props["kind"] = "evidence"
                features.append(_dumps({**f, "properties": props}))
    seq_of = {i.id: i.seq for i in items}
    for row in session.execute(_GEOJSON_TRAJ_SQL, {"wid": waybill_id}):
        stats = row.stats or {}
        props = {"kind": "trajectory", "seq": seq_of.get(row.waybill_vehicle_id), "source": SOURCE_NAMES[row.source],
                 "nFixes": row.n_fixes, "startedAt": row.started_at.isoformat() if row.started_at else None,
                 "endedAt": row.ended_at.isoformat() if row.ended_at else None, "lengthM": row.length_m,
                 "coverage": row.coverage, "maxGapS": row.max_gap_s, "maxSpeedKmh": row.max_speed_kmh,
                 "builtAt": row.built_at.isoformat()}
        if row.line:
            features.append(_feature(row.line, props))
        for stop in stats.get("stops", []):
            lon, lat = stop.get("lon"), stop.get("lat")
            if lon is None or lat is None:
                continue
            features.append(_dumps({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                                    "properties": {"kind": "stop", "seq": props["seq"], "source": props["source"],
                                                   **{k: v for k, v in stop.items() if k not in ("lon", "lat")}}}))
    head = {
        "id": waybill.id, "operatorId": waybill.operator_id, "shippingNoteNumber": waybill.shipping_note_number,
        "serialNumber": waybill.serial_number, "despatchAt": waybill.despatch_at.isoformat(),
        "receiptAt": waybill.receipt_at.isoformat(),
    }
    body = ('{"type":"FeatureCollection","features":[' + ",".join(features) + '],"waybill":' + _dumps(head)
            + ',"verifications":' + _dumps(verifications) + "}")
    return body.encode("utf-8")


def trajectory_geojson(session: Session, waybill_id: int, *, scope: Scope | None = None) -> dict[str, Any]:
    """The waybill on a map: fixes and cleaned trajectory per item and source, stops, places, verdict, evidence.

    Returns
    -------
    dict
        A GeoJSON FeatureCollection (WGS-84 lon/lat). Every feature has ``properties.kind`` (``fixes``,
        ``trajectory``, ``stop``, ``loading_place``, ``unloading_place`` or ``evidence``), ``seq`` and, where
        it applies, ``source`` (``app`` / ``beidou``). Fixes carry their times as ``properties.t`` (epoch
        seconds, one per point). Foreign members: ``waybill`` (id, numbers, times) and ``verifications`` (one
        per item: verdict, every rule with its numbers, when). The API sends
        :func:`trajectory_geojson_bytes` instead, which is this without the Python objects.

    Raises
    ------
    WaybillNotFoundError
        If there is no such waybill.
    """
    return json.loads(trajectory_geojson_bytes(session, waybill_id, scope=scope))
