"""Waybill verification against the database: read fixes, fetch BeiDou when missing, verify, store, report.

``verify_waybill`` runs spec/RULES.md §2 for every vehicle item of a waybill: window [despatch − 2 h, receipt + 2 h],
the plate's driver-app fixes (source 1) and BeiDou fixes (source 2) in it, places from the item's coordinates
(3 km) or its division (the gazetteer's radius). It stores one ``trajectory`` row per source (LINESTRING M), a new
current ``verification`` row, and an anomaly per fired rule; a re-run replaces all three and resolves anomalies
that no longer fire, so it is idempotent. ``trajectory_geojson`` is what the map shows (``trajectory_geojson_bytes``
the same as the API sends it); ``rollup_density`` maintains ``density_daily``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo import gazetteer
from store.anomalies import record
from store.models import Anomaly, Trajectory, Vehicle, Verification, Waybill, WaybillVehicle
from store.positions import load_positions
from trajectories.build import BuiltTrajectory, linestring_m_wkt
from trajectories.columns import LAT, LON, SOURCE, SOURCE_APP, SOURCE_BEIDOU, SOURCE_NAMES, SPEED_REPORTED, T
from trajectories.verify import Place, Thresholds, VerificationInput, verify

if TYPE_CHECKING:
    from etl.adapters.national import NationalPlatformClient

__all__ = [
    "COORDINATE_RADIUS_M",
    "WINDOW_PAD",
    "ItemResult",
    "WaybillNotFoundError",
    "document_key",
    "fixes_for_item",
    "get_waybill",
    "trajectory_geojson",
    "trajectory_geojson_bytes",
    "verify_items",
    "verify_waybill",
]

log = logging.getLogger(__name__)

WINDOW_PAD = dt.timedelta(hours=2)
COORDINATE_RADIUS_M = 3000.0
# Used when a division code is not in the gazetteer at all (a county radius is ~20-40 km).
UNKNOWN_DIVISION_RADIUS_M = 30000.0
# The national platform refuses track windows longer than 72 h.
NATIONAL_MAX_WINDOW_H = 72.0
HEAVY_GROSS_MASS_T = 12.0
# Resolutions kept in density_daily (parents of the res-9 cell stored on every fix).
# Rules that verify_waybill owns on a document; the cross-waybill ones (crosscheck.py) are left alone here.
_OWN_CODES = (
    "TRACK_MISSING", "TRACK_START_MISMATCH", "TRACK_END_MISMATCH", "TRACK_LOW_COVERAGE", "TRACK_IMPOSSIBLE_SPEED",
    "TRACK_LENGTH_IMPLAUSIBLE", "TRACK_SOURCE_CONFLICT",
)


class WaybillNotFoundError(LookupError):
    """No waybill has this id."""


@dataclass
class ItemResult:
    """What verification decided for one vehicle item of a waybill."""

    waybill_id: int
    waybill_vehicle_id: int
    seq: int
    verdict: str
    fired: list[str]
    verification_id: int
    anomaly_ids: list[int] = field(default_factory=list)
    n_fixes: dict[str, int] = field(default_factory=dict)


def document_key(waybill_id: int, seq: int) -> str:
    """The anomaly document key of a waybill vehicle item: ``waybill:{id}:{seq}``."""
    return f"waybill:{waybill_id}:{seq}"


def get_waybill(session: Session, waybill_id: int) -> Waybill:
    """The waybill, or :class:`WaybillNotFoundError`."""
    waybill = session.get(Waybill, waybill_id)
    if waybill is None:
        raise WaybillNotFoundError(f"no waybill with id {waybill_id}")
    return waybill


def _items(session: Session, waybill_id: int) -> list[WaybillVehicle]:
    return list(session.scalars(
        select(WaybillVehicle).where(WaybillVehicle.waybill_id == waybill_id).order_by(WaybillVehicle.seq)
    ))


def _window(item: WaybillVehicle) -> tuple[dt.datetime, dt.datetime]:
    return item.despatch_at - WINDOW_PAD, item.receipt_at + WINDOW_PAD


_FIXES_SQL = text(
    """
    SELECT t, ST_X(geom) AS lon, ST_Y(geom) AS lat, source, speed_kmh, shipping_note_number
    FROM position
    WHERE vehicle_number = :vehicle_number AND plate_color = :plate_color AND source = ANY(:sources)
      AND t BETWEEN :t0 AND :t1
    ORDER BY source, t
    """
)


def fixes_for_item(
    session: Session, item: WaybillVehicle, *, sources: tuple[int, ...] = (SOURCE_APP, SOURCE_BEIDOU)
) -> dict[int, pd.DataFrame]:
    """The plate's fixes in the item's window, one frame per source (``t, lon, lat, source, speed_reported_kmh``).

    Every fix of the plate in the window counts, whichever shipping note it was sent with; the column
    ``shipping_note_number`` is kept so evidence can say how many were sent for this waybill.
    """
    t0, t1 = _window(item)
    rows = session.execute(_FIXES_SQL, {
        "vehicle_number": item.vehicle_number, "plate_color": item.plate_color, "sources": list(sources),
        "t0": t0, "t1": t1,
    }).all()
    df = _fixes_frame(rows)
    src = df[SOURCE].to_numpy()
    return {s: df.loc[src == s].reset_index(drop=True) for s in sources}


def _fixes_frame(rows: list) -> pd.DataFrame:
    # Column-wise from the row tuples: DataFrame(rows) probes every Row object and is ~10x slower.
    cols = list(zip(*rows)) if rows else [()] * 6
    return pd.DataFrame({
        T: pd.to_datetime(pd.Series(cols[0], dtype=object), utc=True).astype("datetime64[us, UTC]"),
        LON: np.asarray(cols[1], dtype=np.float64),
        LAT: np.asarray(cols[2], dtype=np.float64),
        SOURCE: np.asarray(cols[3], dtype=np.int16),
        SPEED_REPORTED: np.asarray([np.nan if v is None else v for v in cols[4]], dtype=np.float64),
        "shipping_note_number": pd.Series(cols[5], dtype=object),
    })


def _is_heavy(session: Session, item: WaybillVehicle) -> bool:
    vehicle = session.get(Vehicle, item.vehicle_id) if item.vehicle_id is not None else session.scalar(
        select(Vehicle).where(Vehicle.vehicle_number == item.vehicle_number, Vehicle.plate_color == item.plate_color)
    )
    if vehicle is None:
        return False
    mass = float(vehicle.gross_mass_t) if vehicle.gross_mass_t is not None else 0.0
    return mass >= HEAVY_GROSS_MASS_T or (vehicle.vehicle_type or "").upper().startswith("Q1")


def _fetch_beidou(session: Session, item: WaybillVehicle, national: NationalPlatformClient) -> int:
    """Fetch the item's BeiDou track from the national platform and cache it as source-2 positions."""
    from etl.adapters.errors import AdapterError

    t0, t1 = _window(item)
    try:
        track = national.get_track(item.vehicle_number, item.plate_color, t0, t1, split_window_h=NATIONAL_MAX_WINDOW_H)
    except AdapterError as e:
        # No BeiDou is a verdict input, not a failure: verification goes on with the app's fixes.
        log.warning("BeiDou track of waybill vehicle %s unavailable: %s", item.id, e)
        return 0
    if len(track) == 0:
        return 0
    conn = session.connection().connection.driver_connection
    return load_positions(conn, {
        "t": track.times.to_numpy(dtype="datetime64[us]"),
        "vehicle_number": item.vehicle_number,
        "plate_color": item.plate_color,
        "source": SOURCE_BEIDOU,
        "lon": track.lon,
        "lat": track.lat,
        "speed_kmh": track.speed_kmh,
        "direction": track.direction,
    })


_PLACES_SQL = text(
    """
    SELECT ST_X(loading_geom) AS lx, ST_Y(loading_geom) AS ly, ST_X(receipt_geom) AS rx, ST_Y(receipt_geom) AS ry
    FROM waybill_vehicle WHERE id = :id
    """
)


def _place(lon: float | None, lat: float | None, code: str, from_coordinates: bool) -> Place:
    division = gazetteer.get(code)
    if lon is None or lat is None:
        lon, lat = (division.lon, division.lat) if division is not None else (float("nan"), float("nan"))
        from_coordinates = False
    if from_coordinates:
        radius = COORDINATE_RADIUS_M
    else:
        radius = float(division.radius_m) if division is not None else UNKNOWN_DIVISION_RADIUS_M
    return Place(lon=float(lon), lat=float(lat), radius_m=radius, from_coordinates=from_coordinates,
                 division_code=code)


def _places_of(item: WaybillVehicle, row: Any) -> tuple[Place, Place]:
    coords = bool(item.places_from_coordinates)
    return (_place(row.lx, row.ly, item.loading_division_code, coords),
            _place(row.rx, row.ry, item.receipt_division_code, coords))


def _places(session: Session, item: WaybillVehicle) -> tuple[Place, Place]:
    return _places_of(item, session.execute(_PLACES_SQL, {"id": item.id}).one())


def verify_waybill(
    session: Session,
    waybill_id: int,
    *,
    national: NationalPlatformClient | None = None,
    thresholds: Thresholds | None = None,
) -> list[ItemResult]:
    """Verify every vehicle item of a waybill against its fixes; store trajectories, verdicts and anomalies.

    Parameters
    ----------
    session : Session
        The caller owns the transaction (nothing is committed here).
    waybill_id : int
    national : NationalPlatformClient, optional
        When given, a heavy vehicle (gross mass ≥ 12 t or type Q1x) without cached BeiDou fixes in the window
        gets its track fetched (in ≤ 72 h pieces) and cached as source-2 positions.
    thresholds : Thresholds, optional
        Rule thresholds (default: spec/RULES.md).

    Returns
    -------
    list of ItemResult
        One per vehicle item, in ``seq`` order.

    Raises
    ------
    WaybillNotFoundError
        If there is no such waybill.
    """
    get_waybill(session, waybill_id)
    return verify_items(session, [i.id for i in _items(session, waybill_id)], national=national,
                        thresholds=thresholds)


_BULK_FIXES_SQL = text(
    """
    WITH items AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:plates AS text[]), CAST(:colors AS text[]),
                             CAST(:t0 AS timestamptz[]), CAST(:t1 AS timestamptz[])) AS i(item_id, vn, pc, t0, t1)
    )
    SELECT i.item_id, p.t, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat, p.source, p.speed_kmh, p.shipping_note_number
    FROM items i JOIN position p
      ON p.vehicle_number = i.vn AND p.plate_color = i.pc AND p.t BETWEEN i.t0 AND i.t1
    WHERE p.t BETWEEN :lo AND :hi
    ORDER BY i.item_id, p.source, p.t
    """
)
_BULK_PLACES_SQL = text(
    """
    SELECT id, ST_X(loading_geom) AS lx, ST_Y(loading_geom) AS ly, ST_X(receipt_geom) AS rx,
           ST_Y(receipt_geom) AS ry
    FROM waybill_vehicle WHERE id = ANY(:ids)
    """
)


def _bulk_fixes(session: Session, items: list[WaybillVehicle]) -> dict[int, dict[int, pd.DataFrame]]:
    """Every item's fixes in one query (the plate index per partition), split per item and source."""
    empty = _fixes_frame([])
    out = {i.id: {SOURCE_APP: empty, SOURCE_BEIDOU: empty} for i in items}
    if not items:
        return out
    windows = [_window(i) for i in items]
    rows = session.execute(_BULK_FIXES_SQL, {
        "ids": [i.id for i in items], "plates": [i.vehicle_number for i in items],
        "colors": [i.plate_color for i in items], "t0": [w[0] for w in windows], "t1": [w[1] for w in windows],
        "lo": min(w[0] for w in windows), "hi": max(w[1] for w in windows),
    }).all()
    if not rows:
        return out
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    df = _fixes_frame([r[1:] for r in rows])
    cuts = np.flatnonzero(np.diff(ids)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(ids)]):
        part = df.iloc[lo:hi]
        src = part[SOURCE].to_numpy()
        out[int(ids[lo])] = {s: part.loc[src == s].reset_index(drop=True) for s in (SOURCE_APP, SOURCE_BEIDOU)}
    return out


def verify_items(
    session: Session,
    item_ids: list[int],
    *,
    national: NationalPlatformClient | None = None,
    thresholds: Thresholds | None = None,
) -> list[ItemResult]:
    """Verify many waybill vehicle items with one read of their fixes and places (the back-fill path).

    Same effect as :func:`verify_waybill` on each item's waybill; see there for the parameters.
    """
    items = list(session.scalars(select(WaybillVehicle).where(WaybillVehicle.id.in_(item_ids))
                                 .order_by(WaybillVehicle.waybill_id, WaybillVehicle.seq)))
    waybills = {w.id: w for w in session.scalars(select(Waybill).where(
        Waybill.id.in_({i.waybill_id for i in items})))}
    fixes = _bulk_fixes(session, items)
    place_rows = {r.id: r for r in session.execute(_BULK_PLACES_SQL, {"ids": [i.id for i in items]})}
    results = []
    for item in items:
        f = fixes[item.id]
        if f[SOURCE_BEIDOU].empty and national is not None and _is_heavy(session, item):
            if _fetch_beidou(session, item, national):
                f = {**f, SOURCE_BEIDOU: fixes_for_item(session, item, sources=(SOURCE_BEIDOU,))[SOURCE_BEIDOU]}
        places = _places_of(item, place_rows[item.id])
        results.append(_verify_item(session, waybills[item.waybill_id], item, f, places, thresholds))
    return results


def _verify_item(
    session: Session,
    waybill: Waybill,
    item: WaybillVehicle,
    fixes: dict[int, pd.DataFrame],
    places: tuple[Place, Place],
    thresholds: Thresholds | None,
) -> ItemResult:
    loading, unloading = places
    inp = VerificationInput(
        despatch_at=pd.Timestamp(item.despatch_at), receipt_at=pd.Timestamp(item.receipt_at),
        loading=loading, unloading=unloading,
        app=fixes[SOURCE_APP] if len(fixes[SOURCE_APP]) else None,
        beidou=fixes[SOURCE_BEIDOU] if len(fixes[SOURCE_BEIDOU]) else None,
    )
    verdict = verify(inp) if thresholds is None else verify(inp, thresholds=thresholds)
    for source, name in SOURCE_NAMES.items():
        _store_trajectory(session, waybill.id, item.id, source, verdict.tracks.get(name), fixes[source],
                          waybill.shipping_note_number)

    session.execute(update(Verification).where(
        Verification.waybill_vehicle_id == item.id, Verification.current.is_(True)).values(current=False))
    rules = [_rule_dict(r) for r in verdict.rules]
    # The tracks themselves live in `trajectory`; the verification keeps what the rules found.
    features = [f for f in verdict.evidence.get("features", []) if f["properties"].get("kind") != "track"]
    evidence = {"type": "FeatureCollection", "features": _jsonable(features),
                "places": {"loading": _place_dict(loading), "unloading": _place_dict(unloading)},
                "stats": {k: _jsonable(v.to_dict()) for k, v in verdict.stats.items()}}
    ver = Verification(waybill_id=waybill.id, waybill_vehicle_id=item.id, verdict=verdict.verdict, rules=rules,
                       evidence=evidence, current=True)
    session.add(ver)
    session.flush()

    key = document_key(waybill.id, item.seq)
    fired = [r for r in verdict.rules if r.fired]
    anomaly_ids = [
        record(session, r.code, document_kind="waybill", document_key=key, operator_id=waybill.operator_id,
               document_id=waybill.id, reason_zh=r.reason_zh, reason_en=r.reason_en,
               severity=_severity(r.severity),
               evidence={"numbers": _jsonable(r.numbers), "verificationId": ver.id, "seq": item.seq})
        for r in fired
    ]
    _resolve_stale(session, key, {r.code for r in fired})
    return ItemResult(
        waybill_id=waybill.id, waybill_vehicle_id=item.id, seq=item.seq, verdict=verdict.verdict,
        fired=[r.code for r in fired], verification_id=ver.id, anomaly_ids=anomaly_ids,
        n_fixes={SOURCE_NAMES[s]: int(len(f)) for s, f in fixes.items()},
    )


def _severity(rule_severity: str) -> str:
    # A contradiction (FAIL) or no track at all (NO_DATA) is severe; doubtful evidence (SUSPECT) a warning.
    return "warning" if rule_severity == "SUSPECT" else "severe"


def _resolve_stale(session: Session, key: str, still_firing: set[str]) -> None:
    """Anomalies of this verification's own rules that no longer fire are resolved (not deleted: history)."""
    stale = [c for c in _OWN_CODES if c not in still_firing]
    session.execute(
        update(Anomaly)
        .where(Anomaly.document_kind == "waybill", Anomaly.document_key == key, Anomaly.code.in_(stale),
               Anomaly.status == "open")
        .values(status="resolved", resolved_at=dt.datetime.now(dt.timezone.utc))
    )
    # A rule that fires again re-opens its resolved anomaly.
    session.execute(
        update(Anomaly)
        .where(Anomaly.document_kind == "waybill", Anomaly.document_key == key,
               Anomaly.code.in_(sorted(still_firing)), Anomaly.status == "resolved")
        .values(status="open", resolved_at=None)
    )


def _store_trajectory(
    session: Session, waybill_id: int, item_id: int, source: int, built: BuiltTrajectory | None, raw: pd.DataFrame,
    shipping_note_number: str,
) -> None:
    if built is None or built.stats.n_fixes == 0:
        session.execute(delete(Trajectory).where(Trajectory.waybill_vehicle_id == item_id,
                                                 Trajectory.source == source))
        return
    s = built.stats
    wkt = linestring_m_wkt(built.fixes)
    stats = _jsonable(s.to_dict())
    stats["clean"] = _jsonable({k: getattr(built.clean_report, k) for k in
                                ("n_in", "n_out", "invalid", "duplicates", "out_of_order", "spikes", "jumps")})
    stats["stops"] = _stops_list(built.stops)
    stats["gaps"] = _jsonable(built.gaps.to_dict("records"))
    notes = raw["shipping_note_number"].to_numpy() if "shipping_note_number" in raw else np.array([])
    stats["fixes_for_this_waybill"] = int(np.sum(notes == shipping_note_number))
    values = dict(
        waybill_id=waybill_id, waybill_vehicle_id=item_id, source=source,
        geom=func.ST_GeomFromText(wkt, 4326) if wkt else None,
        n_fixes=s.n_fixes, started_at=_py_time(s.started_at), ended_at=_py_time(s.ended_at),
        length_m=_num(s.length_m), coverage=_num(s.coverage), max_gap_s=_num(s.max_gap_s),
        max_speed_kmh=_num(s.max_speed_kmh), h3_path=[int(c) for c in built.h3_path], stats=stats,
        built_at=dt.datetime.now(dt.timezone.utc),
    )
    stmt = insert(Trajectory).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["waybill_vehicle_id", "source"],
        set_={k: stmt.excluded[k] for k in values if k not in ("waybill_vehicle_id", "source")},
    )
    session.execute(stmt)


def _stops_list(stops: pd.DataFrame) -> list[dict[str, Any]]:
    return _jsonable(stops.to_dict("records")) if len(stops) else []


def _py_time(value: Any) -> dt.datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _num(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _jsonable(obj: Any) -> Any:
    """numpy / pandas scalars, timestamps and NaN made JSON-safe, recursively."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.Timestamp | dt.datetime):
        return None if pd.isna(obj) else pd.Timestamp(obj).isoformat()
    if isinstance(obj, pd.Timedelta | dt.timedelta):
        return pd.Timedelta(obj).total_seconds()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    return str(obj)


def _rule_dict(rule: Any) -> dict[str, Any]:
    return {
        "code": rule.code, "fired": bool(rule.fired), "severity": rule.severity, "reasonZh": rule.reason_zh,
        "reasonEn": rule.reason_en, "numbers": _jsonable(rule.numbers),
    }


def _place_dict(place: Place) -> dict[str, Any]:
    return {"lon": place.lon, "lat": place.lat, "radiusM": place.radius_m,
            "fromCoordinates": bool(place.from_coordinates), "divisionCode": place.division_code}


# --- GeoJSON for the map --------------------------------------------------------------------------------------


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


# The fixes of one item, one GeoJSON Feature per source, built as JSON text by PostgreSQL: reading 10,000 rows into
# Python and serialising them again was most of the endpoint's time. Same window and index path as _FIXES_SQL.
# ST_AsGeoJSON's 6 decimals ≈ 0.1 m; date_part gives float8 epoch seconds, printed as Python prints the same floats.
_GEOJSON_FIXES_SQL = text(
    """
    SELECT '{"type":"Feature","geometry":' || ST_AsGeoJSON(ST_Collect(geom ORDER BY t), 6)
           || ',"properties":{"kind":"fixes","seq":' || CAST(:seq AS integer)
           || ',"source":' || to_json(CASE source WHEN 1 THEN 'app' ELSE 'beidou' END)
           || ',"n":' || count(*)
           || ',"t":' || array_to_json(array_agg(date_part('epoch', t) ORDER BY t))
           || '}}' AS feature
    FROM position
    WHERE vehicle_number = :vehicle_number AND plate_color = :plate_color AND source = ANY(:sources)
      AND t BETWEEN :t0 AND :t1
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


def trajectory_geojson_bytes(session: Session, waybill_id: int) -> bytes:
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
    items = _items(session, waybill_id)
    features: list[str] = []
    verifications: list[dict[str, Any]] = []
    current = {v.waybill_vehicle_id: v for v in session.scalars(
        select(Verification).where(Verification.waybill_id == waybill_id, Verification.current.is_(True)))}
    for item in items:
        t0, t1 = _window(item)
        features.extend(session.execute(_GEOJSON_FIXES_SQL, {
            "seq": item.seq, "vehicle_number": item.vehicle_number, "plate_color": item.plate_color,
            "sources": [SOURCE_APP, SOURCE_BEIDOU], "t0": t0, "t1": t1,
        }).scalars())
        loading, unloading = _places(session, item)
        for kind, place in (("loading_place", loading), ("unloading_place", unloading)):
            if np.isfinite(place.lon) and np.isfinite(place.lat):
                features.append(_dumps({"type": "Feature",
                                        "geometry": {"type": "Polygon", "coordinates": [_circle(place.lon, place.lat,
                                                                                                place.radius_m)]},
                                        "properties": {"kind": kind, "seq": item.seq, **_place_dict(place)}}))
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


def trajectory_geojson(session: Session, waybill_id: int) -> dict[str, Any]:
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
    return json.loads(trajectory_geojson_bytes(session, waybill_id))
