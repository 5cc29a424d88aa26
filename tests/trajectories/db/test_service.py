"""verify_waybill on a generated province in PostGIS: stored trajectories, verdicts, anomalies, re-runs, BeiDou fetch."""

from __future__ import annotations

import datetime as dt
import json

import h3
import numpy as np
import pytest
from sqlalchemy import func, select, text

from core.beijing import BEIJING
from etl.adapters.national import NationalPlatformClient
from geo.hexes import parent_masks
from simulation.servers.runner import serve
from store.models import Anomaly, DensityDaily, Position, Trajectory, Verification, Waybill, WaybillVehicle
from supervision.statistics.density import rollup_density
from trajectories.service import (
    WaybillNotFoundError,
    fixes_for_item,
    trajectory_geojson,
    trajectory_geojson_bytes,
    verify_waybill,
)


def _waybill_id(session, truth: list[dict], code: str) -> int:
    note = next(g["key"]["shippingNoteNumber"] for g in truth if g["code"] == code)
    return session.scalar(select(Waybill.id).where(Waybill.shipping_note_number == note))


def _clean_waybill_id(session, truth: list[dict]) -> int:
    labelled = {g["key"]["shippingNoteNumber"] for g in truth if "shippingNoteNumber" in g["key"]}
    return session.scalar(select(Waybill.id).where(Waybill.shipping_note_number.not_in(labelled))
                          .order_by(Waybill.id))


def test_clean_waybill_passes_and_stores_valid_linestring_m(psession, ground_truth):
    wid = _clean_waybill_id(psession, ground_truth)
    [res] = verify_waybill(psession, wid)
    assert res.verdict == "PASS" and res.fired == []
    rows = psession.execute(text(
        "SELECT source, n_fixes, ST_IsValidTrajectory(geom) AS valid, ST_M(ST_StartPoint(geom)) AS m0, "
        "ST_NDims(geom) AS dims, started_at FROM trajectory WHERE waybill_id = :w"), {"w": wid}).all()
    assert rows and all(r.valid and r.dims == 3 and r.n_fixes > 1 for r in rows)
    # M is epoch seconds of the first fix
    assert all(abs(r.m0 - r.started_at.timestamp()) < 1e-3 for r in rows)
    ver = psession.scalars(select(Verification).where(Verification.waybill_id == wid)).one()
    assert ver.current and ver.verdict == "PASS" and {r["code"] for r in ver.rules} >= {"TRACK_MISSING"}


@pytest.mark.parametrize("code, verdicts", [
    ("TRACK_MISSING", {"NO_DATA"}),
    ("TRACK_IMPOSSIBLE_SPEED", {"FAIL"}),
    ("TRACK_LOW_COVERAGE", {"SUSPECT", "FAIL"}),
])
def test_labelled_waybill_gets_its_anomaly(psession, ground_truth, code, verdicts):
    wid = _waybill_id(psession, ground_truth, code)
    results = verify_waybill(psession, wid)
    assert any(code in r.fired for r in results) and {r.verdict for r in results} <= verdicts
    seq = next(r.seq for r in results if code in r.fired)
    anomaly = psession.scalars(select(Anomaly).where(Anomaly.code == code,
                                                     Anomaly.document_key == f"waybill:{wid}:{seq}")).one()
    assert anomaly.document_kind == "waybill" and anomaly.document_id == wid
    assert anomaly.reason_zh and anomaly.reason_en and anomaly.evidence["numbers"]
    assert anomaly.operator_id == psession.get(Waybill, wid).operator_id


def test_rerun_is_idempotent(psession, ground_truth):
    wid = _waybill_id(psession, ground_truth, "TRACK_SOURCE_CONFLICT")
    first = verify_waybill(psession, wid)
    counts = lambda: (  # noqa: E731
        psession.scalar(select(func.count()).select_from(Anomaly).where(Anomaly.document_id == wid)),
        psession.scalar(select(func.count()).select_from(Trajectory).where(Trajectory.waybill_id == wid)),
        psession.scalar(select(func.count()).select_from(Verification).where(Verification.waybill_id == wid,
                                                                            Verification.current)),
    )
    before = counts()
    second = verify_waybill(psession, wid)
    assert [(r.verdict, r.fired) for r in first] == [(r.verdict, r.fired) for r in second]
    assert counts() == before and before[2] == len(first)
    assert psession.scalar(select(func.count()).select_from(Verification).where(
        Verification.waybill_id == wid)) == 2 * len(first)


def test_unknown_waybill_raises(psession):
    with pytest.raises(WaybillNotFoundError):
        verify_waybill(psession, 10**9)


def test_missing_beidou_is_fetched_from_the_national_platform_and_cached(psession, province_dir):
    # a heavy vehicle's item with BeiDou fixes: forget them, then let verification fetch them again
    item = psession.execute(text(
        "SELECT wv.id, wv.waybill_id, wv.vehicle_number, wv.plate_color, wv.despatch_at, wv.receipt_at "
        "FROM waybill_vehicle wv JOIN vehicle v ON v.vehicle_number = wv.vehicle_number "
        "AND v.plate_color = wv.plate_color WHERE v.gross_mass_t >= 12 AND EXISTS (SELECT 1 FROM position p "
        "WHERE p.vehicle_number = wv.vehicle_number AND p.source = 2 AND p.t BETWEEN wv.despatch_at AND "
        "wv.receipt_at) ORDER BY wv.id LIMIT 1")).one()
    window = dict(v=item.vehicle_number, c=item.plate_color, t0=item.despatch_at - dt.timedelta(hours=2),
                  t1=item.receipt_at + dt.timedelta(hours=2))
    n_before = psession.execute(text("DELETE FROM position WHERE vehicle_number = :v AND plate_color = :c "
                                     "AND source = 2 AND t BETWEEN :t0 AND :t1"), window).rowcount
    assert n_before > 100
    assert verify_waybill(psession, item.waybill_id)[0].n_fixes["beidou"] == 0  # no client: nothing fetched
    with serve("national", province_dir, port=0) as sim, \
            NationalPlatformClient(sim.url, timeout_s=5.0, retries=0) as national:
        [res] = [r for r in verify_waybill(psession, item.waybill_id, national=national)
                 if r.waybill_vehicle_id == item.id]
    cached = psession.execute(text("SELECT count(*) FROM position WHERE vehicle_number = :v AND plate_color = :c "
                                   "AND source = 2 AND t BETWEEN :t0 AND :t1"), window).scalar()
    assert cached == n_before and res.n_fixes["beidou"] == n_before


def test_trajectory_geojson_has_fixes_track_places_and_verdict(psession, ground_truth):
    wid = _waybill_id(psession, ground_truth, "TRACK_IMPOSSIBLE_SPEED")
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
    wid = _clean_waybill_id(psession, ground_truth)
    fc = trajectory_geojson(psession, wid)
    assert [v["verdict"] for v in fc["verifications"]] == [None]
    assert any(f["properties"]["kind"] == "fixes" for f in fc["features"])
    with pytest.raises(WaybillNotFoundError):
        trajectory_geojson(psession, 10**9)


def test_trajectory_geojson_from_postgres_matches_the_fixes_read_in_python(psession, ground_truth):
    wid = _waybill_id(psession, ground_truth, "TRACK_SOURCE_CONFLICT")  # both sources
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
    wid = _clean_waybill_id(psession, ground_truth)
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


def test_parent_masks_agree_with_h3():
    rng = np.random.default_rng(1)
    for lat, lon in zip(rng.uniform(20, 45, 20), rng.uniform(100, 125, 20)):
        cell9 = h3.latlng_to_cell(lat, lon, 9)
        for res in (0, 5, 7, 8, 9):
            clear, set_ = parent_masks(res)
            assert (h3.str_to_int(cell9) & clear) | set_ == h3.str_to_int(h3.cell_to_parent(cell9, res))


def test_rollup_density_counts_fixes_per_cell_and_is_idempotent(psession):
    day = psession.scalar(select(func.min(Position.t))).astimezone(BEIJING).date()
    t0 = dt.datetime.combine(day, dt.time(), tzinfo=BEIJING)
    n_day = psession.scalar(select(func.count()).select_from(Position).where(
        Position.t >= t0, Position.t < t0 + dt.timedelta(days=1)))
    written = rollup_density(psession, day, resolutions=(7, 9))
    assert written == rollup_density(psession, day, resolutions=(7, 9)) > 0
    for res in (7, 9):
        total = psession.scalar(select(func.sum(DensityDaily.fixes)).where(DensityDaily.day == day,
                                                                           DensityDaily.res == res))
        assert total == n_day
    # a res-7 row is the sum of its res-9 children
    row = psession.scalars(select(DensityDaily).where(DensityDaily.day == day, DensityDaily.res == 7)
                           .order_by(DensityDaily.fixes.desc())).first()
    clear, set_ = parent_masks(7)
    children = psession.scalar(select(func.sum(DensityDaily.fixes)).where(
        DensityDaily.day == day, DensityDaily.res == 9, DensityDaily.source == row.source,
        DensityDaily.h3.op("&")(clear).op("|")(set_) == row.h3))
    assert children == row.fixes and h3.get_resolution(h3.int_to_str(row.h3)) == 7
