"""deck.gl layers for the pages (deckgl-dash: the JavaScript ships inside its wheel, nothing from a CDN).

The offline base is the province's, cities' and counties' outlines (``geo.outlines``, data/outlines.parquet) on a
plain background; a raster tile URL (``WLHY_DASHBOARD_TILE_URL``, e.g. OSM or 天地图 with a key) is optional and
off by default. Large point sets travel as binary attributes (one base64 buffer, no per-point JSON), so a view of
a million fixes stays interactive.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from deckgl_dash.binary import binary_data

from core.config import get_settings
from geo import outlines as geo_outlines

__all__ = [
    "COLORS",
    "base_layers",
    "bounds_of",
    "fixes_layer",
    "geojson_layer",
    "province_view",
    "scope_view",
    "thin_indices",
    "tile_url",
    "view_box",
    "view_of",
]

#: RGBA per thing drawn; the legend uses the same.
COLORS: dict[str, list[int]] = {
    "app": [31, 119, 180, 200], "beidou": [255, 127, 14, 200],
    "track_app": [20, 80, 160, 255], "track_beidou": [200, 90, 0, 255],
    "stop": [120, 60, 160, 255], "loading_place": [44, 160, 44, 70], "unloading_place": [214, 39, 40, 70],
    "offending": [230, 0, 60, 255], "copy_source": [148, 0, 211, 255], "removed": [90, 90, 90, 255],
    "outline_province": [70, 70, 70, 255], "outline_city": [120, 120, 120, 255],
    "outline_county": [185, 185, 185, 255],
}
#: Most points one layer draws (issue #12: never more than ~50,000 features or an equal binary buffer per layer).
MAX_POINTS = 50_000
#: Degrees of outline simplification: ~300 m, invisible at province zoom and a few hundred kB for a province.
_SIMPLIFY_DEG = 0.003


def tile_url() -> str:
    """The optional raster base layer's URL template (``{z}/{x}/{y}``); empty (the default) means outlines only."""
    return os.environ.get("WLHY_DASHBOARD_TILE_URL", "")


@lru_cache(maxsize=4)
def _outline_collection(province: str) -> dict[str, Any]:
    gdf = geo_outlines.outlines(province[:2])
    geoms = shapely.simplify(gdf.geometry.values, _SIMPLIFY_DEG, preserve_topology=True)
    features = []
    # Counties first so the city and province lines are drawn over them.
    order = {"county": 0, "city": 1, "province": 2}
    for code, level, name, geom in sorted(zip(gdf["code"], gdf["level"], gdf["name"], geoms),
                                          key=lambda r: order[r[1]]):
        boundary = shapely.boundary(geom)
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(boundary) | {},
                         "properties": {"code": code, "level": level, "name": name,
                                        "color": COLORS[f"outline_{level}"],
                                        "width": {"county": 0.6, "city": 1.2, "province": 2.2}[level]}})
    return _jsonable({"type": "FeatureCollection", "features": features})


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return round(obj, 5)
    return obj


def base_layers(province: str | None = None) -> list[dict[str, Any]]:
    """The offline base: division outlines of the province (and the configured tiles under them, when set)."""
    province = province or get_settings().province_code
    layers: list[dict[str, Any]] = []
    url = tile_url()
    if url:
        layers.append({"@@type": "TileLayer", "id": "base-tiles", "data": url, "minZoom": 0, "maxZoom": 18,
                       "tileSize": 256})
    layers.append({"@@type": "GeoJsonLayer", "id": "outlines", "data": _outline_collection(province),
                   "stroked": True, "filled": False, "getLineColor": "@@=properties.color",
                   "getLineWidth": "@@=properties.width", "lineWidthUnits": "pixels", "pickable": False})
    return layers


@lru_cache(maxsize=4)
def province_view(province: str | None = None) -> dict[str, float]:
    """An initial view framing the province."""
    province = province or get_settings().province_code
    geom = geo_outlines.outline(province[:2] + "0000")
    if geom is None:
        return {"longitude": 117.2, "latitude": 31.8, "zoom": 6}
    x0, y0, x1, y1 = geom.bounds
    span = max(x1 - x0, y1 - y0, 1e-3)
    zoom = float(np.clip(np.log2(360 / span) - 0.6, 3, 12))
    return {"longitude": (x0 + x1) / 2, "latitude": (y0 + y1) / 2, "zoom": round(zoom, 2), "pitch": 0,
            "bearing": 0}


def view_of(bounds: list[list[float]] | None, width_px: int = 900, height_px: int = 470,
            max_zoom: float = 15.0) -> dict[str, float]:
    """A view framing ``bounds`` in a map of about that many pixels (Web Mercator; the inspector's map at
    1366×768). Computed here so the first frame is already framed, whatever the container's size at mount."""
    if bounds is None:
        return province_view()
    (x0, y0), (x1, y1) = bounds
    pad = 1.15

    def merc_y(lat: float) -> float:
        return float(np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)))

    dx = max((x1 - x0) * pad, 1e-4) / 360.0
    dy = max(abs(merc_y(y1) - merc_y(y0)) * pad, 1e-6) / (2 * np.pi)
    zoom = float(min(np.log2(width_px / 512 / dx), np.log2(height_px / 512 / dy), max_zoom))
    return {"longitude": (x0 + x1) / 2, "latitude": (y0 + y1) / 2, "zoom": round(max(zoom, 3.0), 2), "pitch": 0,
            "bearing": 0}


def scope_view(division_prefix: str) -> dict[str, float]:
    """The province, or the regulator's own city or county when the scope is narrower."""
    if not division_prefix or division_prefix == "-":
        return province_view()
    geom = geo_outlines.outline(division_prefix.ljust(6, "0"))
    if geom is None:
        return province_view()
    x0, y0, x1, y1 = geom.bounds
    return view_of([[x0, y0], [x1, y1]], width_px=1300, height_px=580, max_zoom=12)


def bounds_of(lon: np.ndarray, lat: np.ndarray) -> list[list[float]] | None:
    """[[west, south], [east, north]] of the points, for ``fit_bounds``."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return None
    return [[float(lon[ok].min()), float(lat[ok].min())], [float(lon[ok].max()), float(lat[ok].max())]]


def view_box(longitude: float, latitude: float, zoom: float, width_px: float, height_px: float,
             margin: float = 1.0) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a ``width_px`` × ``height_px`` map centred there at ``zoom`` (Web Mercator,
    deck.gl's 512 px world at zoom 0), widened by ``margin`` views on each side so a short pan needs nothing new.

    >>> [round(v, 3) for v in view_box(0.0, 0.0, 0.0, 512, 512, margin=0.0)]
    [-180.0, -85.051, 180.0, 85.051]
    """
    world = 512.0 * 2.0 ** float(zoom)
    s = np.sin(np.radians(np.clip(latitude, -85.0, 85.0)))
    x = (longitude + 180.0) / 360.0 * world
    y = (0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)) * world
    half_w, half_h = (0.5 + margin) * width_px, (0.5 + margin) * height_px

    def lat_of(yy: float) -> float:
        n = np.pi - 2.0 * np.pi * yy / world
        return float(np.degrees(np.arctan(np.sinh(n))))

    west = max((x - half_w) / world * 360.0 - 180.0, -180.0)
    east = min((x + half_w) / world * 360.0 - 180.0, 180.0)
    return west, max(lat_of(y + half_h), -85.06), east, min(lat_of(y - half_h), 85.06)


def thin_indices(lon: np.ndarray, lat: np.ndarray, zoom: float, max_points: int | None = None) -> np.ndarray:
    """Indices (in order) of at most ``max_points`` of the points that draw the same picture at map ``zoom``: the
    first point of each screen-pixel cell (Web Mercator, deck.gl's 512 px world at zoom 0), cells doubled in size
    until they fit, the first and last point always kept. All indices when there are few enough. ``max_points``
    defaults to :data:`MAX_POINTS` as it is at the call.

    >>> lon = np.linspace(117.0, 117.001, 1000); lat = np.full(1000, 31.8)  # 1000 fixes within ~1 pixel at zoom 8
    >>> thin_indices(lon, lat, zoom=8, max_points=10).tolist()
    [0, 999]
    """
    n = len(lon)
    max_points = MAX_POINTS if max_points is None else max_points
    if n <= max_points:
        return np.arange(n)
    world = 512.0 * 2.0 ** float(zoom)
    x = (np.asarray(lon, dtype=float) + 180.0) / 360.0 * world
    y = (1.0 - np.log(np.tan(np.pi / 4 + np.radians(np.clip(lat, -85.0, 85.0)) / 2)) / np.pi) / 2.0 * world
    cell = 1.0
    while True:
        key = np.floor(x / cell).astype(np.int64) * 2**31 + np.floor(y / cell).astype(np.int64)
        _, first = np.unique(key, return_index=True)
        if len(first) + 2 <= max_points:
            return np.unique(np.concatenate([first, [0, n - 1]]))
        cell *= 2.0


def fixes_layer(layer_id: str, lon: np.ndarray, lat: np.ndarray, color: list[int], *,
                t_rel: np.ndarray | None = None, radius_px: float = 2.5) -> dict[str, Any]:
    """A ScatterplotLayer of points as binary attributes (float32 positions, optional float32 time for the filter).

    ``t_rel`` are seconds since the time domain's start (float32-safe, as DataFilterExtension needs).
    """
    n = len(lon)
    attributes: dict[str, Any] = {"getPosition": np.column_stack([lon, lat]).astype(np.float32)}
    layer: dict[str, Any] = {"@@type": "ScatterplotLayer", "id": layer_id, "getFillColor": color,
                             "radiusUnits": "pixels", "getRadius": radius_px, "radiusMinPixels": 1,
                             "pickable": False}
    if t_rel is not None:
        attributes["getFilterValue"] = np.asarray(t_rel, dtype=np.float32)
        layer["extensions"] = ["DataFilterExtension"]
        layer["filterRange"] = [0, float(np.max(t_rel)) if n else 0.0]
    layer["data"] = binary_data(n, attributes)
    return layer


def geojson_layer(layer_id: str, features: list[dict[str, Any]], *, line_color: list[int],
                  fill_color: list[int] | None = None, line_width_px: float = 2.0, point_radius_px: float = 4.0,
                  pickable: bool = True) -> dict[str, Any]:
    """A GeoJsonLayer of ``features`` drawn in one colour (lines ``line_width_px`` wide)."""
    return {"@@type": "GeoJsonLayer", "id": layer_id, "data": {"type": "FeatureCollection", "features": features},
            "stroked": True, "filled": fill_color is not None, "getLineColor": line_color,
            "getFillColor": fill_color or [0, 0, 0, 0], "getLineWidth": line_width_px, "lineWidthUnits": "pixels",
            "pointRadiusUnits": "pixels", "getPointRadius": point_radius_px, "pointType": "circle",
            "pickable": pickable}
