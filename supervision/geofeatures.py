"""Where list rows lie on a map, for the GeoJSON / GeoParquet downloads of the lists (B2, B3).

A waybill is the line from its loading place to its unloading place (through each vehicle item's places in
order, for a segmented waybill); an anomaly lies where its evidence says (``lon``/``lat``) or, for an anomaly on a
waybill, at the loading place of the vehicle item concerned. Points are WGS-84, as stored. Callers pass rows they
already read through a Scope; nothing here widens what they may see.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geoalchemy2.functions import ST_X, ST_Y
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Anomaly, WaybillVehicle

__all__ = ["anomaly_points", "feature", "waybill_lines"]


def feature(geometry: dict[str, Any] | None, properties: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Feature."""
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _items(db_session: Session, waybill_ids: list[int]):
    return db_session.execute(select(
        WaybillVehicle.waybill_id, WaybillVehicle.seq,
        ST_X(WaybillVehicle.loading_geom).label("lx"), ST_Y(WaybillVehicle.loading_geom).label("ly"),
        ST_X(WaybillVehicle.receipt_geom).label("rx"), ST_Y(WaybillVehicle.receipt_geom).label("ry"))
        .where(WaybillVehicle.waybill_id.in_(waybill_ids)).order_by(WaybillVehicle.waybill_id, WaybillVehicle.seq))


def waybill_lines(db_session: Session, waybill_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """GeoJSON LineStrings loading → unloading per waybill id (ids without two known places are left out)."""
    ids = list(waybill_ids)
    if not ids:
        return {}
    coords: dict[int, list[list[float]]] = {}
    for r in _items(db_session, ids):
        line = coords.setdefault(r.waybill_id, [])
        for x, y in ((r.lx, r.ly), (r.rx, r.ry)):
            if x is not None and y is not None and (not line or line[-1] != [x, y]):
                line.append([x, y])
    return {wid: {"type": "LineString", "coordinates": c} for wid, c in coords.items() if len(c) >= 2}


def _evidence_point(evidence: dict[str, Any] | None) -> list[float] | None:
    if not isinstance(evidence, dict):
        return None
    lon, lat = evidence.get("lon", evidence.get("longitude")), evidence.get("lat", evidence.get("latitude"))
    if isinstance(lon, int | float) and isinstance(lat, int | float) and -180 <= lon <= 180 and -90 <= lat <= 90:
        return [float(lon), float(lat)]
    return None


def anomaly_points(db_session: Session, anomalies: Iterable[Anomaly]) -> dict[int, dict[str, Any]]:
    """GeoJSON Points per anomaly id, for the anomalies that have a location (the others are left out)."""
    out: dict[int, dict[str, Any]] = {}
    on_waybills: dict[int, tuple[int, int | None]] = {}
    for a in anomalies:
        p = _evidence_point(a.evidence)
        if p is not None:
            out[a.id] = {"type": "Point", "coordinates": p}
        elif a.document_kind == "waybill" and a.document_id is not None:
            seq = (a.evidence or {}).get("seq") if isinstance(a.evidence, dict) else None
            on_waybills[a.id] = (a.document_id, seq if isinstance(seq, int) else None)
    if on_waybills:
        places: dict[int, dict[int, list[float]]] = {}
        for r in _items(db_session, list({w for w, _ in on_waybills.values()})):
            if r.lx is not None and r.ly is not None:
                places.setdefault(r.waybill_id, {})[r.seq] = [r.lx, r.ly]
        for aid, (wid, seq) in on_waybills.items():
            items = places.get(wid, {})
            p = items.get(seq) if seq is not None else (items[min(items)] if items else None)
            if p is not None:
                out[aid] = {"type": "Point", "coordinates": p}
    return out
