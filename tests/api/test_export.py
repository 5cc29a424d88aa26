"""The download formats: CSV with BOM, GeoJSON FeatureCollections, GeoParquet files that GeoPandas reads back."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import geopandas as gpd
import pyarrow.parquet as pq

from api.export import csv_response, features_frame, geojson_response, geoparquet_response

LINE = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[117.2, 31.8], [118.3, 32.0]]},
        "properties": {"id": 1, "carrier": "合肥货运", "totalAmount": Decimal("1200.500"),
                       "despatchAt": dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC), "tags": ["a", "b"]}}
POINT = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.0, 31.0]},
         "properties": {"id": 2, "carrier": None, "totalAmount": None, "despatchAt": None, "tags": []}}


def test_csv_has_bom_and_chinese_intact():
    r = csv_response([{"a": "合肥", "b": None}], ["a", "b"], "x.csv")
    assert r.body.startswith("\ufeff".encode())
    assert r.body.decode("utf-8-sig").splitlines() == ["a,b", "合肥,"]
    assert r.headers["content-disposition"] == 'attachment; filename="x.csv"'


def test_geojson_is_a_feature_collection_with_exact_values():
    r = geojson_response([LINE, POINT], "waybills.geojson")
    assert r.media_type == "application/geo+json"
    assert r.headers["content-disposition"] == 'attachment; filename="waybills.geojson"'
    doc = json.loads(r.body)
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    props = doc["features"][0]["properties"]
    assert props["carrier"] == "合肥货运"  # not \u-escaped
    assert props["totalAmount"] == "1200.500" and props["despatchAt"] == "2026-10-01T08:00:00Z"
    assert "合肥货运".encode() in r.body


def test_geojson_inline_without_filename_and_empty():
    r = geojson_response(iter([]))
    assert "content-disposition" not in r.headers
    assert json.loads(r.body) == {"type": "FeatureCollection", "features": []}


def test_geoparquet_reads_back_with_geometry_and_crs():
    r = geoparquet_response(features_frame([LINE, POINT]), "waybills.parquet")
    assert r.media_type == "application/vnd.apache.parquet"
    assert r.headers["content-disposition"] == 'attachment; filename="waybills.parquet"'
    assert r.body[:4] == b"PAR1"
    back = gpd.read_parquet(io.BytesIO(r.body))
    assert back.crs.to_epsg() == 4326
    assert list(back.geometry.geom_type) == ["LineString", "Point"]
    assert back.iloc[0]["carrier"] == "合肥货运" and back.iloc[0]["totalAmount"] == "1200.500"
    assert json.loads(back.iloc[0]["tags"]) == ["a", "b"]
    assert b"geo" in pq.read_schema(io.BytesIO(r.body)).metadata  # GeoParquet metadata, not plain WKB bytes


def test_geoparquet_of_no_rows_is_still_a_file():
    r = geoparquet_response(features_frame([]), "none.parquet")
    assert len(gpd.read_parquet(io.BytesIO(r.body))) == 0
