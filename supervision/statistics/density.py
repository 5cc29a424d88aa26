"""Position density per H3 cell: the daily roll-up (``density_daily``) and the hexagons the API and maps show.

Aggregates only: fixes and distinct vehicles per cell and day, so no single truck's track can be read back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.scope import Scope
from core.beijing import day_bounds
from geo import gazetteer, hexes
from geo.distance import haversine_m
from store.positions import H3_RES, SOURCE_APP, SOURCE_BEIDOU

__all__ = ["DENSITY_RES", "density_geojson", "rollup_density"]

#: H3 resolutions kept in ``density_daily`` (positions are indexed at ``H3_RES``; coarser cells are parents).
DENSITY_RES = (5, 6, 7, 8, 9)


_ROLLUP_SQL = text(
    """
    INSERT INTO density_daily (day, res, source, h3, fixes, vehicles)
    SELECT :day, :res, source, (h3 & :clear) | :set AS cell, count(*), count(DISTINCT (vehicle_number, plate_color))
    FROM position
    WHERE t >= :t0 AND t < :t1 AND h3 > 0
    GROUP BY source, cell
    """
)


def rollup_density(session: Session, day: dt.date, *, resolutions: tuple[int, ...] = DENSITY_RES) -> int:
    """Recompute ``density_daily`` for one Beijing day from ``position``: fixes and vehicles per H3 cell.

    Parameters
    ----------
    session : Session
        The caller commits.
    day : date
        Beijing calendar day (the position partitions' day).
    resolutions : tuple of int
        H3 resolutions to keep, each ≤ 9 (the positions are indexed at 9; coarser cells are their parents,
        computed in SQL with bit masks, so no H3 extension is needed in the database).

    Returns
    -------
    int
        Rows written. Re-running replaces the day (idempotent).
    """
    bad = [r for r in resolutions if not 0 <= int(r) <= H3_RES]
    if bad:
        raise ValueError(f"resolutions must be within 0..{H3_RES}; got {bad}")
    t0, t1 = day_bounds(day)
    session.execute(text("DELETE FROM density_daily WHERE day = :day"), {"day": day})
    written = 0
    for res in resolutions:
        clear, set_ = hexes.parent_masks(int(res))
        written += session.execute(_ROLLUP_SQL, {"day": day, "res": int(res), "clear": clear, "set": set_,
                                                 "t0": t0, "t1": t1}).rowcount
    return written


_DENSITY_SQL = text(
    """
    SELECT h3, sum(fixes)::bigint AS fixes, sum(vehicles)::bigint AS vehicle_days
    FROM density_daily
    WHERE res = :res AND day BETWEEN :d0 AND :d1 AND (CAST(:source AS smallint) IS NULL OR source = :source)
    GROUP BY h3
    """
)


def density_geojson(
    session: Session,
    bbox: tuple[float, float, float, float],
    *,
    scope: Scope,
    res: int = 7,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    source: str | None = None,
    limit: int = 10_000,
) -> dict[str, Any]:
    """Density hexagons from ``density_daily``: fixes and vehicle-days per H3 cell whose centre is in ``bbox``.

    Parameters
    ----------
    session : Session
    bbox : tuple of float
        (min_lon, min_lat, max_lon, max_lat), WGS-84 degrees.
    scope : Scope
        A city or county user sees only the cells of its own division (centre within the division's extent);
        province staff, admin and analysts the whole province.
    res : int
        One of :data:`DENSITY_RES`.
    date_from, date_to : date, optional
        Beijing days, both included; default the 7 days up to the latest day rolled up.
    source : {"app", "beidou"}, optional
        One source; both when None.
    limit : int
        At most this many cells, densest first (``truncated`` says when more matched).

    Returns
    -------
    dict
        GeoJSON FeatureCollection of Polygons with ``h3`` (hex string), ``fixes``, ``vehicleDays`` (distinct
        vehicles summed over days); foreign members ``res``, ``from``, ``to``, ``source``, ``totalFixes``,
        ``truncated``.
    """
    import h3

    if res not in DENSITY_RES:
        raise ValueError(f"res must be one of {DENSITY_RES}; got {res!r}")
    source_code = {"app": SOURCE_APP, "beidou": SOURCE_BEIDOU, None: None}[source]
    if date_to is None:
        date_to = session.scalar(text("SELECT max(day) FROM density_daily WHERE res = :res"), {"res": res})
    if date_from is None and date_to is not None:
        date_from = date_to - dt.timedelta(days=6)
    meta = {"res": res, "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None, "source": source}
    if date_to is None:
        return {"type": "FeatureCollection", "features": [], **meta, "totalFixes": 0, "truncated": False}
    rows = session.execute(_DENSITY_SQL, {"res": res, "d0": date_from, "d1": date_to, "source": source_code}).all()
    cells = np.array([r.h3 for r in rows], dtype=np.int64)
    fixes = np.array([r.fixes for r in rows], dtype=np.int64)
    vdays = np.array([r.vehicle_days for r in rows], dtype=np.int64)
    lon, lat = hexes.cells_to_points(cells)
    x0, y0, x1, y1 = bbox
    keep = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1) & _in_scope(scope, lon, lat)
    inside = np.flatnonzero(keep)
    order = inside[np.argsort(-fixes[inside], kind="stable")]
    features = []
    for k in order[:limit].tolist():
        cell = h3.int_to_str(int(cells[k]))
        ring = [[round(x, 6), round(y, 6)] for y, x in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"h3": cell, "fixes": int(fixes[k]), "vehicleDays": int(vdays[k])}})
    return {"type": "FeatureCollection", "features": features, **meta,
            "totalFixes": int(fixes[inside].sum()), "truncated": len(order) > limit}


def _in_scope(scope: Scope, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Mask of the cell centres inside the scope's division (all True province-wide, all False for none)."""
    scope.require_statistics()
    if not scope.division_prefix:
        return np.ones(lon.shape, dtype=bool)
    division = gazetteer.get(scope.division_prefix.ljust(6, "0"))
    if division is None:
        return np.zeros(lon.shape, dtype=bool)
    return haversine_m(lon, lat, division.lon, division.lat) <= division.radius_m
