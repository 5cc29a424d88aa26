"""Position density per H3 cell: the daily roll-up (``density_daily``) and the hexagons the API and maps show.

Aggregates only: fixes and distinct vehicles per cell and day, so no single truck's track can be read back; for
analysts (aggregates-only scopes) a cell resting on fewer than k distinct vehicles over the period is suppressed
(:mod:`supervision.statistics.privacy`). The distinct vehicles of a cell-day are kept (``vehicle_keys``) when
fewer than :data:`KEYS_BELOW`, so the count over several days is exact for any k up to that: a cell-day with more
vehicles passes by itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.scope import Scope
from core.beijing import day_bounds
from geo import gazetteer, hexes
from geo.distance import haversine_m
from store.positions import H3_RES, SOURCE_APP, SOURCE_BEIDOU
from supervision.statistics import privacy

__all__ = ["DENSITY_RES", "KEYS_BELOW", "density_geojson", "in_scope", "rollup_density", "rollup_density_parallel"]

#: H3 resolutions kept in ``density_daily`` (positions are indexed at ``H3_RES``; coarser cells are parents).
DENSITY_RES = (5, 6, 7, 8, 9)


#: A cell-day keeps its vehicle keys when it has fewer vehicles than this (exact k-floor for k ≤ KEYS_BELOW).
KEYS_BELOW = 50

# One scan of the day's partition: fixes per (source, res-9 cell, vehicle); each coarser resolution is grouped from
# the previous (smaller) stage through the parent bit masks, so the positions are read once whatever the
# resolutions, and a stage row is one vehicle in one cell: counting vehicles needs no DISTINCT (no sort).
_SCAN_SQL = """
    SELECT source, h3 AS cell, hashtextextended(vehicle_number || ':' || plate_color, 0) AS vkey, count(*) AS n
    FROM position
    WHERE t >= :t0 AND t < :t1 AND h3 > 0
    GROUP BY source, h3, vehicle_number, plate_color
"""
_STAGE_SQL = text("CREATE TEMP TABLE density_stage_9 ON COMMIT DROP AS " + _SCAN_SQL)
# Parallel roll-up: each slice of the day is scanned by its own session into the shared (unlogged) stage table;
# a vehicle crossing a slice boundary appears in two slices, so the res-9 stage sums them again.
_SHARD_SQL = text("INSERT INTO density_stage (day, source, cell, vkey, n) "
                  "SELECT CAST(:day AS date), * FROM (" + _SCAN_SQL + ") s")
_MERGED_STAGE_SQL = text(
    "CREATE TEMP TABLE density_stage_9 ON COMMIT DROP AS "
    "SELECT source, cell, vkey, sum(n) AS n FROM density_stage WHERE day = :day GROUP BY 1, 2, 3")
_COARSER_SQL = """
    CREATE TEMP TABLE density_stage_{res} ON COMMIT DROP AS
    SELECT source, (cell & :clear) | :set AS cell, vkey, sum(n) AS n FROM density_stage_{prev} GROUP BY 1, 2, 3
"""
_ROLLUP_SQL = """
    INSERT INTO density_daily (day, res, source, h3, fixes, vehicles, vehicle_keys)
    SELECT :day, :res, source, cell, sum(n), count(*),
           CASE WHEN count(*) < :below THEN array_agg(vkey ORDER BY vkey) END
    FROM density_stage_{res} GROUP BY source, cell
"""


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
    _check(resolutions)
    t0, t1 = day_bounds(day)
    session.execute(text(f"DROP TABLE IF EXISTS density_stage_{H3_RES}"))
    session.execute(_STAGE_SQL, {"t0": t0, "t1": t1})
    return _rollup_stage(session, day, resolutions)


def _check(resolutions: tuple[int, ...]) -> None:
    bad = [r for r in resolutions if not 0 <= int(r) <= H3_RES]
    if bad:
        raise ValueError(f"resolutions must be within 0..{H3_RES}; got {bad}")


def rollup_density_parallel(
    session_factory: Callable[[], Session],
    day: dt.date,
    *,
    shards: int = 2,
    resolutions: tuple[int, ...] = DENSITY_RES,
) -> int:
    """:func:`rollup_density` with the partition scan split into ``shards`` time slices run concurrently, each in
    its own session (one core each), committed into ``density_stage``; one session then groups every
    resolution from the merged stage and commits the day. Same rows as :func:`rollup_density`."""
    from concurrent.futures import ThreadPoolExecutor

    _check(resolutions)
    t0, t1 = day_bounds(day)
    edges = [t0 + (t1 - t0) * i / shards for i in range(shards + 1)]
    with session_factory() as s:
        s.execute(text("DELETE FROM density_stage WHERE day = :day"), {"day": day})  # a failed run's leftovers
        s.commit()

    def scan(i: int) -> None:
        with session_factory() as s:
            s.execute(_SHARD_SQL, {"day": day, "t0": edges[i], "t1": edges[i + 1]})
            s.commit()

    with ThreadPoolExecutor(max_workers=shards) as pool:
        list(pool.map(scan, range(shards)))
    with session_factory() as s:
        s.execute(text(f"DROP TABLE IF EXISTS density_stage_{H3_RES}"))
        s.execute(_MERGED_STAGE_SQL, {"day": day})
        s.execute(text("DELETE FROM density_stage WHERE day = :day"), {"day": day})
        written = _rollup_stage(s, day, resolutions)
        s.commit()
    return written


def _rollup_stage(session: Session, day: dt.date, resolutions: tuple[int, ...]) -> int:
    """The day's ``density_daily`` rows from the res-9 stage ``density_stage_9`` (dropped when done)."""
    session.execute(text("DELETE FROM density_daily WHERE day = :day"), {"day": day})
    stages = [H3_RES]
    written = 0
    for res in sorted({int(r) for r in resolutions}, reverse=True):
        if res != stages[-1]:
            clear, set_ = hexes.parent_masks(res)
            session.execute(text(f"DROP TABLE IF EXISTS density_stage_{res}"))
            session.execute(text(_COARSER_SQL.format(res=res, prev=stages[-1])), {"clear": clear, "set": set_})
            session.execute(text(f"DROP TABLE density_stage_{stages[-1]}"))
            stages.append(res)
        written += session.execute(text(_ROLLUP_SQL.format(res=res)),
                                   {"day": day, "res": res, "below": KEYS_BELOW}).rowcount
    session.execute(text(f"DROP TABLE density_stage_{stages[-1]}"))
    return written


_DENSITY_SQL = text(
    """
    WITH r AS (
        SELECT h3, fixes, vehicles, vehicle_keys FROM density_daily
        WHERE res = :res AND day BETWEEN :d0 AND :d1 AND (CAST(:source AS smallint) IS NULL OR source = :source)),
    a AS (SELECT h3, sum(fixes)::bigint AS fixes, sum(vehicles)::bigint AS vehicle_days,
                 bool_or(vehicle_keys IS NULL) AS many FROM r GROUP BY h3),
    k AS (SELECT h3, count(DISTINCT key) AS n FROM r CROSS JOIN LATERAL unnest(r.vehicle_keys) AS key GROUP BY h3)
    SELECT a.h3, a.fixes, a.vehicle_days, CASE WHEN a.many THEN NULL ELSE coalesce(k.n, 0) END AS vehicles
    FROM a LEFT JOIN k USING (h3)
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
        return {"type": "FeatureCollection", "features": [], **meta, "totalFixes": 0, "truncated": False,
                "privacy": privacy.floor(session, scope, basis=("vehicles",)).report.as_wire()}
    rows = session.execute(_DENSITY_SQL, {"res": res, "d0": date_from, "d1": date_to, "source": source_code}).all()
    fl = privacy.floor(session, scope, basis=("vehicles",))
    if fl.applied:
        # NULL distinct count: some cell-day had KEYS_BELOW vehicles or more, which passes any k up to that
        published = [r for r in rows if r.vehicles is None or fl.passes(int(r.vehicles))]
        fl.report.suppressed = len(rows) - len(published)
        fl.report.dropped = fl.report.suppressed
        rows = published
    cells = np.array([r.h3 for r in rows], dtype=np.int64)
    fixes = np.array([r.fixes for r in rows], dtype=np.int64)
    vdays = np.array([r.vehicle_days for r in rows], dtype=np.int64)
    lon, lat = hexes.cells_to_points(cells)
    x0, y0, x1, y1 = bbox
    keep = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1) & in_scope(scope, lon, lat)
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
            "totalFixes": int(fixes[inside].sum()), "truncated": len(order) > limit, "privacy": fl.report.as_wire()}


def in_scope(scope: Scope, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Mask of the cell centres inside the scope's division (all True province-wide, all False for none)."""
    scope.require_statistics()
    if not scope.division_prefix:
        return np.ones(lon.shape, dtype=bool)
    division = gazetteer.get(scope.division_prefix.ljust(6, "0"))
    if division is None:
        return np.zeros(lon.shape, dtype=bool)
    return haversine_m(lon, lat, division.lon, division.lat) <= division.radius_m
