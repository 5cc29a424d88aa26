"""format=geojson|geoparquet on GET /api/v1/waybills and /anomalies over real HTTP: lines loading → unloading,
anomaly points (rows without a location left out), the list's own properties, and the same scope as the JSON."""

from __future__ import annotations

import io
import json
import uuid

import geopandas as gpd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from etl.intake.pipeline import receive
from etl.schemas import samples
from store.anomalies import record
from store.models import Operator, Waybill
from tests.api.conftest import login_as
from tests.etl.intake.test_pipeline import DOC_NAMES


@pytest.fixture(scope="module")
def geo(engine):
    """An operator in 蜀山区 with one waybill 昆山 → 合肥 and three anomalies: one on the waybill, one with a
    point in its evidence, one on the operator itself (no location)."""
    tag = uuid.uuid4().hex[:6].upper()
    with Session(engine) as s:
        op = Operator(usci=f"91340104{tag}G000", name=f"G{tag}", division_code="340104")
        s.add(op)
        s.flush()
        waybill = samples.waybill()
        waybill["shippingNoteNumber"] = f"GEO{tag}"
        header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES["WLHY_YD1001"],
                  "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "t",
                  "messageSendingDateTime": "20240316093000", "ipcType": "WLHY_YD1001"}
        assert receive(s, operator=op, header=header, payload=json.dumps(waybill)).code == 1001
        wid = s.scalar(select(Waybill.id).where(Waybill.shipping_note_number == f"GEO{tag}"))
        on_waybill = record(s, "MATCH_AMOUNT", document_kind="waybill", document_key=f"geo:{wid}",
                            operator_id=op.id, document_id=wid, reason_zh="金额不一致", reason_en="amounts differ",
                            evidence={"seq": 0})
        at_point = record(s, "VEHICLE_NOT_IN_NETWORK", document_kind="vehicle", document_key=f"geo:v:{tag}",
                          operator_id=op.id, reason_zh="未入网", reason_en="not in the network",
                          evidence={"lon": 117.25, "lat": 31.85})
        nowhere = record(s, "QUAL_OPERATOR_PERMIT", document_kind="operator", document_key=f"geo:o:{tag}",
                         operator_id=op.id, reason_zh="许可证无效", reason_en="permit invalid")
        op_id = op.id
        s.commit()
    return {"operator": op_id, "waybill": wid, "note": f"GEO{tag}", "on_waybill": on_waybill,
            "at_point": at_point, "nowhere": nowhere}


def test_waybills_as_geojson_lines_with_list_properties(http, make_user, geo):
    _, h = login_as(http, make_user, "county", division_code="340104")
    params = {"shipping_note_number": geo["note"]}
    r = http.get("/api/v1/waybills", params=params | {"format": "geojson"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert 'filename="waybills.geojson"' in r.headers["content-disposition"]
    [f] = r.json()["features"]
    [row] = http.get("/api/v1/waybills", params=params, headers=h).json()["items"]
    assert f["properties"] == row                                     # the list row, unchanged
    assert f["geometry"]["type"] == "LineString"
    (x0, y0), (x1, y1) = f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][-1]
    assert 120 < x0 < 122 and 31 < y0 < 32                             # 昆山 (loading)
    assert 116.5 < x1 < 118 and 31 < y1 < 32.5                         # 合肥蜀山区 (unloading)
    _, elsewhere = login_as(http, make_user, "county", division_code="340102")
    assert http.get("/api/v1/waybills", params=params | {"format": "geojson"},
                    headers=elsewhere).json()["features"] == []


def test_waybills_as_geoparquet(http, make_user, geo):
    _, h = login_as(http, make_user, "admin")
    r = http.get("/api/v1/waybills", params={"shipping_note_number": geo["note"], "format": "geoparquet"},
                 headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    gdf = gpd.read_parquet(io.BytesIO(r.content))
    assert list(gdf["shippingNoteNumber"]) == [geo["note"]] and gdf.crs.to_epsg() == 4326
    assert gdf.geometry.iloc[0].geom_type == "LineString" and gdf.geometry.iloc[0].length > 3


def test_anomalies_with_a_location_only(http, make_user, geo):
    _, h = login_as(http, make_user, "operator", operator_id=geo["operator"])
    params = {"operator_id": geo["operator"], "sort": "id"}
    r = http.get("/api/v1/anomalies", params=params | {"format": "geojson"}, headers=h)
    assert r.status_code == 200, r.text
    feats = {f["properties"]["id"]: f for f in r.json()["features"]}
    assert set(feats) == {geo["on_waybill"], geo["at_point"]}           # the operator's own one has no place
    assert feats[geo["at_point"]]["geometry"] == {"type": "Point", "coordinates": [117.25, 31.85]}
    x, y = feats[geo["on_waybill"]]["geometry"]["coordinates"]
    assert 120 < x < 122 and 31 < y < 32                               # the waybill's loading place
    assert feats[geo["at_point"]]["properties"]["reasonZh"] == "未入网"
    gdf = gpd.read_parquet(io.BytesIO(http.get("/api/v1/anomalies", params=params | {"format": "geoparquet"},
                                               headers=h).content))
    assert sorted(gdf["id"]) == sorted([geo["on_waybill"], geo["at_point"]])
    _, rival = login_as(http, make_user, "county", division_code="340102")
    assert http.get("/api/v1/anomalies", params=params | {"format": "geojson"},
                    headers=rival).json()["features"] == []
    _, analyst = login_as(http, make_user, "analyst")
    assert http.get("/api/v1/anomalies", params={"format": "geojson"}, headers=analyst).status_code == 403
