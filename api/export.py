"""List answers as files: CSV that Excel opens with Chinese intact (UTF-8 with BOM), the same columns as the JSON;
GeoJSON FeatureCollections and GeoParquet for the spatial lists."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi.responses import Response

if TYPE_CHECKING:  # geopandas costs ~1 s to import: only the GeoParquet answer pays it
    from geopandas import GeoDataFrame

__all__ = ["GEOJSON_MEDIA_TYPE", "PARQUET_MEDIA_TYPE", "csv_response", "features_frame", "features_response",
           "geojson_response", "geoparquet_response"]

GEOJSON_MEDIA_TYPE = "application/geo+json"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else value


def _attachment(filename: str | None) -> dict[str, str] | None:
    return {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else None


def csv_response(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], filename: str) -> Response:
    """A ``text/csv`` download of ``rows`` (one column per key in ``columns``)."""
    buf = io.StringIO()
    buf.write("\ufeff")  # BOM: without it Excel reads UTF-8 as the local ANSI code page and garbles Chinese
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return Response(buf.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers=_attachment(filename))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        text = value.isoformat()  # spelled as the JSON answers spell it (pydantic: UTC as "Z")
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # amounts keep their exact digits, as in the JSON lists
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def geojson_response(features: Iterable[dict], filename: str | None = None) -> Response:
    """A GeoJSON ``FeatureCollection`` of ``features`` (each ``{"type": "Feature", "geometry", "properties"}``),
    ``application/geo+json``; a download (attachment) when ``filename`` is given."""
    body = json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False,
                      default=_json_default, separators=(",", ":"))
    return Response(body.encode("utf-8"), media_type=GEOJSON_MEDIA_TYPE, headers=_attachment(filename))


def features_frame(features: Iterable[dict]) -> GeoDataFrame:
    """GeoJSON features as a GeoDataFrame in WGS-84 (EPSG:4326), one column per property.

    Property values that Parquet cannot hold as such (dicts, lists, decimals, mixed types) become text, so the file
    opens in QGIS / DuckDB / pandas without custom types.
    """
    import geopandas as gpd
    from shapely.geometry import shape

    rows, geoms = [], []
    for f in features:
        geoms.append(shape(f["geometry"]) if f.get("geometry") else None)
        props = {}
        for k, v in (f.get("properties") or {}).items():
            if isinstance(v, dict | list):
                v = json.dumps(v, ensure_ascii=False, default=_json_default)
            elif isinstance(v, Decimal):
                v = str(v)
            props[k] = v
        rows.append(props)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")


def geoparquet_response(gdf: GeoDataFrame, filename: str) -> Response:
    """``gdf`` as a GeoParquet file (GeoPandas ``to_parquet``, geometry WKB with the ``geo`` metadata),
    ``application/vnd.apache.parquet``, as a download named ``filename``."""
    buf = io.BytesIO()
    gdf.to_parquet(buf, index=False)
    return Response(buf.getvalue(), media_type=PARQUET_MEDIA_TYPE, headers=_attachment(filename))


def features_response(features: Iterable[dict], format: str, stem: str) -> Response:
    """The ``format=geojson|geoparquet`` answer of a spatial list: ``stem.geojson`` or ``stem.parquet``."""
    if format == "geoparquet":
        return geoparquet_response(features_frame(features), f"{stem}.parquet")
    return geojson_response(features, f"{stem}.geojson")
