"""verify_waybill on a generated province in PostGIS: stored trajectories, verdicts, anomalies, re-runs, BeiDou fetch."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from etl.adapters.errors import AdapterUnavailableError
from etl.adapters.national import NationalPlatformClient
from etl.beidou import NATIONAL_MAX_WINDOW_H, is_heavy
from simulation.servers.runner import serve
from store.models import Anomaly, Trajectory, Verification, Waybill
from tests.trajectories.db.conftest import clean_waybill_id, labelled_waybill_id
from trajectories.fixes import WaybillNotFoundError
from trajectories.verification import verify_waybill


def test_clean_waybill_passes_and_stores_valid_linestring_m(psession, ground_truth):
    wid = clean_waybill_id(psession, ground_truth)
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
    wid = labelled_waybill_id(psession, ground_truth, code)
    results = verify_waybill(psession, wid)
    assert any(code in r.fired for r in results) and {r.verdict for r in results} <= verdicts
    seq = next(r.seq for r in results if code in r.fired)
    anomaly = psession.scalars(select(Anomaly).where(Anomaly.code == code,
                                                     Anomaly.document_key == f"waybill:{wid}:{seq}")).one()
    assert anomaly.document_kind == "waybill" and anomaly.document_id == wid
    assert anomaly.reason_zh and anomaly.reason_en and anomaly.evidence["numbers"]
    assert anomaly.operator_id == psession.get(Waybill, wid).operator_id


def test_rerun_is_idempotent(psession, ground_truth):
    wid = labelled_waybill_id(psession, ground_truth, "TRACK_SOURCE_CONFLICT")
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


def _heavy_item(psession, *beidou_when: str):
    """The first item of a heavy vehicle that has, for each of ``beidou_when`` (a condition on ``p.t`` and the
    item ``wv``), a cached BeiDou fix."""
    having = "".join(f" AND EXISTS (SELECT 1 FROM position p WHERE p.vehicle_number = wv.vehicle_number "
                     f"AND p.source = 2 AND {cond})" for cond in beidou_when)
    return psession.execute(text(
        "SELECT wv.id, wv.waybill_id, wv.vehicle_number, wv.plate_color, wv.despatch_at, wv.receipt_at "
        "FROM waybill_vehicle wv JOIN vehicle v ON v.vehicle_number = wv.vehicle_number "
        f"AND v.plate_color = wv.plate_color WHERE v.gross_mass_t >= 12{having} ORDER BY wv.id LIMIT 1")).one()


def test_missing_beidou_is_fetched_from_the_national_platform_and_cached(psession, province_dir):
    # a heavy vehicle's item with BeiDou fixes: forget them, then let verification fetch them again
    item = _heavy_item(psession, "p.t BETWEEN wv.despatch_at AND wv.receipt_at")
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


def test_beidou_cached_only_in_the_margin_by_the_previous_trip_is_fetched_again(psession, province_dir):
    # back to back: the previous trip's fetched window reaches into this trip's margin, so a few fixes before the
    # despatch are cached while the transport period has none; verification must still fetch this trip's track
    item = _heavy_item(psession, "p.t BETWEEN wv.despatch_at - interval '2 hours' AND "
                                 "wv.despatch_at - interval '30 minutes'",
                       "p.t BETWEEN wv.despatch_at AND wv.receipt_at")
    span = dict(v=item.vehicle_number, c=item.plate_color, t0=item.despatch_at - dt.timedelta(minutes=20),
                t1=item.receipt_at + dt.timedelta(hours=2))
    removed = psession.execute(text("DELETE FROM position WHERE vehicle_number = :v AND plate_color = :c "
                                    "AND source = 2 AND t BETWEEN :t0 AND :t1"), span).rowcount
    assert removed > 100
    margin_only = verify_waybill(psession, item.waybill_id)  # no client: only the margin's fixes
    short = next(r for r in margin_only if r.waybill_vehicle_id == item.id).n_fixes["beidou"]
    assert 0 < short
    with serve("national", province_dir, port=0) as sim, \
            NationalPlatformClient(sim.url, timeout_s=5.0, retries=0) as national:
        [res] = [r for r in verify_waybill(psession, item.waybill_id, national=national)
                 if r.waybill_vehicle_id == item.id]
    assert res.n_fixes["beidou"] >= short + removed


class _DownPlatform:
    """A national platform that never answers."""

    def __init__(self):
        self.asked: list[tuple] = []

    def get_track(self, vehicle_number, plate_color, start, end, *, split_window_h=None):
        self.asked.append((vehicle_number, plate_color, start, end, split_window_h))
        raise AdapterUnavailableError("down", system="national")


def test_unreachable_national_platform_is_no_beidou_not_a_failure(psession):
    # a heavy vehicle's item: without cached BeiDou fixes it asks the platform, which is down
    item = _heavy_item(psession)
    assert is_heavy(psession, vehicle_number=item.vehicle_number, plate_color=item.plate_color)
    psession.execute(text("DELETE FROM position WHERE vehicle_number = :v AND plate_color = :c AND source = 2"),
                     {"v": item.vehicle_number, "c": item.plate_color})
    down = _DownPlatform()
    [res] = [r for r in verify_waybill(psession, item.waybill_id, national=down) if r.waybill_vehicle_id == item.id]
    assert res.n_fixes["beidou"] == 0 and res.verdict in {"PASS", "SUSPECT", "FAIL", "NO_DATA"}
    assert (item.vehicle_number, item.plate_color, item.despatch_at - dt.timedelta(hours=2),
            item.receipt_at + dt.timedelta(hours=2), NATIONAL_MAX_WINDOW_H) in down.asked
