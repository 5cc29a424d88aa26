"""The map of a waybill (trajectory_geojson, trajectory_geojson_bytes) on a generated province in PostGIS."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from sqlalchemy import select, text

from store.models import WaybillVehicle
from tests.trajectories.db.conftest import clean_waybill_id, labelled_waybill_id
from trajectories.fixes import WaybillNotFoundError, fixes_for_item
from trajectories.maps import trajectory_geojson, trajectory_geojson_bytes
from trajectories.verification import verify_waybill


def test_trajectory_geojson_has_fixes_track_places_and_verdict(psession, ground_truth):
    wid = labelled_waybill_id(psession, ground_truth, "TRACK_IMPOSSIBLE_SPEED")
    verify_waybill(psession, wid)
    fc = trajectory_geojson(psession, wid)
    assert fc["type"] == "FeatureCollection" and fc["waybill"]["id"] == wid
    kinds = {f["properties"]["kind"] for f in fc["features"]}
    assert {"fixes", "trajectory", "loading_place", "unloading_place", "evidence"} <= kinds
    fixes = [f for f in fc["features"] if f["properties"]["kind"] == "fixes"]
    assert all(len(f["geometry"]["coordinates"]) == len(f["properties"]["t"]) == f["properties"]["n"] for f in fixes)
    [ver] = fc["verifications"]
    assert ver["verdict"] == "FAIL"
    assert any(r["code"] == "TRACK_IMPOSSIBLE_SPEED" and r["fired"] for r in ver["rules"])
    evidence_kinds = {f["properties"]["evidenceKind"] for f in fc["features"] if f["properties"]["kind"] == "evidence"}
    assert "speed_segment" in evidence_kinds


def test_trajectory_geojson_before_verification_and_unknown(psession, ground_truth):
    wid = clean_waybill_id(psession, ground_truth)
    fc = trajectory_geojson(psession, wid)
    assert [v["verdict"] for v in fc["verifications"]] == [None]
    assert any(f["properties"]["kind"] == "fixes" for f in fc["features"])
    with pytest.raises(WaybillNotFoundError):
        trajectory_geojson(psession, 10**9)


def test_trajectory_geojson_from_postgres_matches_the_fixes_read_in_python(psession, ground_truth):
    wid = labelled_waybill_id(psession, ground_truth, "TRACK_SOURCE_CONFLICT")  # both sources
    verify_waybill(psession, wid)
    body = trajectory_geojson_bytes(psession, wid)
    fc = json.loads(body)
    assert fc == trajectory_geojson(psession, wid)
    [item] = psession.scalars(select(WaybillVehicle).where(WaybillVehicle.waybill_id == wid)).all()
    expected = {name: fixes_for_item(psession, item)[code] for code, name in ((1, "app"), (2, "beidou"))}
    fixes = {f["properties"]["source"]: f for f in fc["features"] if f["properties"]["kind"] == "fixes"}
    assert set(fixes) == {"app", "beidou"}
    for name, df in expected.items():
        f = fixes[name]
        assert f["geometry"]["type"] == "MultiPoint" and f["properties"]["seq"] == item.seq
        assert f["properties"]["n"] == len(df) == len(f["properties"]["t"])
        # the same floats Python computed from the rows: epoch microseconds / 1e6
        assert f["properties"]["t"] == (df["t"].to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6).tolist()
        coords = np.array(f["geometry"]["coordinates"])
        np.testing.assert_allclose(coords, df[["lon", "lat"]].to_numpy(), rtol=0, atol=5.1e-7)  # 6 decimals
    lines = [f for f in fc["features"] if f["properties"]["kind"] == "trajectory"]
    assert {f["properties"]["source"] for f in lines} == {"app", "beidou"}
    assert all(f["geometry"]["type"] == "LineString"
               and len(f["geometry"]["coordinates"]) == f["properties"]["nFixes"] for f in lines)


def test_trajectory_geojson_single_fix_is_a_one_point_multipoint(psession, ground_truth):
    wid = clean_waybill_id(psession, ground_truth)
    [item] = psession.scalars(select(WaybillVehicle).where(WaybillVehicle.waybill_id == wid)).all()
    app = fixes_for_item(psession, item)[1]
    keep = app["t"].iloc[len(app) // 2]
    psession.execute(text("DELETE FROM position WHERE vehicle_number = :v AND plate_color = :c AND source = 1 "
                          "AND t BETWEEN :t0 AND :t1 AND t <> :keep"),
                     {"v": item.vehicle_number, "c": item.plate_color, "keep": keep.to_pydatetime(),
                      "t0": item.despatch_at - dt.timedelta(hours=2), "t1": item.receipt_at + dt.timedelta(hours=2)})
    fc = trajectory_geojson(psession, wid)
    [f] = [f for f in fc["features"] if f["properties"]["kind"] == "fixes" and f["properties"]["source"] == "app"]
    assert f["geometry"]["type"] == "MultiPoint" and len(f["geometry"]["coordinates"]) == 1
    assert f["properties"]["n"] == 1 and f["properties"]["t"] == [keep.timestamp()]

