"""TRACK_DUPLICATED on short, sparse app tracks, in the back-fill and in the live (signature index) check.

The crafted case: a 45-minute trip on a bending road with a driver app reporting every ~7 min, copied 8 minutes
later for another vehicle of another platform, thinned to 5 of its 10 fixes (two of them at rest at the
unloading place) with fresh 5 m noise. Only 4-5 H3 cells and 4 distinct places: the evidence a copy of such a
track can carry. Its clean twin: two genuine trips on the same road by two vehicles of two platforms, 8 minutes
(or a day) apart, sampled independently, at speeds 5 % apart — same shape, different timing.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select

from geo.distance import EARTH_RADIUS_M
from store.models import WaybillVehicle
from store.positions import SOURCE_APP, load_positions
from tests.supervision.indicators import factory
from trajectories.crosscheck import MIN_MATCHED_PLACES, compare_items, find_duplicated_tracks
from trajectories.signatures import find_copies, index_items

DAY = dt.date(2026, 10, 3)
T0 = dt.datetime(2026, 10, 3, 14, 40, tzinfo=dt.UTC)  # 22:40 Beijing, the day's last trips
LON0, LAT0 = 119.62, 31.76
#: A bending road (east, north metres from LON0, LAT0), about 31 km long.
ROAD = np.array([[0, 0], [3000, 3500], [9000, 5000], [16000, 3000], [24000, 1000], [26000, 3000]], dtype=float)


def _along(d_m: np.ndarray) -> np.ndarray:
    """Points (east, north) at road distances ``d_m`` (clipped to the road's end)."""
    seg = np.hypot(*np.diff(ROAD, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    d = np.clip(d_m, 0.0, cum[-1])
    return np.column_stack([np.interp(d, cum, ROAD[:, 0]), np.interp(d, cum, ROAD[:, 1])])


def _trip_fixes(t0_s: float, times_s: np.ndarray, speed_kmh: float, rng, noise_m: float = 8.0,
                wait_s: float = 0.0) -> np.ndarray:
    """(t, east, north) of a truck leaving ``wait_s`` after ``t0_s`` at ``speed_kmh`` (±8 % slow variation) and
    waiting at the unloading place, sampled at ``times_s``."""
    rel = np.maximum(times_s - t0_s - wait_s, 0.0)
    wobble = 1 + 0.08 * np.sin(rel / 400.0 + rng.uniform(0, 6))
    d = np.cumsum(np.concatenate([[0.0], np.diff(rel) * speed_kmh / 3.6 * wobble[1:]]))
    xy = _along(d) + rng.normal(0.0, noise_m, (rel.size, 2))
    return np.column_stack([times_s, xy])


def _load(session, item: WaybillVehicle, operator_id: int, fixes: np.ndarray) -> None:
    lat = LAT0 + np.degrees(fixes[:, 2] / EARTH_RADIUS_M)
    lon = LON0 + np.degrees(fixes[:, 1] / (EARTH_RADIUS_M * np.cos(np.radians(LAT0))))
    t = (np.datetime64("1970-01-01T00:00:00", "us") + (fixes[:, 0] * 1e6).astype("timedelta64[us]"))
    load_positions(session.connection().connection.driver_connection, {
        "t": t, "vehicle_number": item.vehicle_number, "plate_color": item.plate_color, "source": SOURCE_APP,
        "operator_id": operator_id, "lon": lon, "lat": lat})


def _trip(session, op, plate: str, t0_s: float, fixes: np.ndarray, *, reported_h: float = 3.0) -> WaybillVehicle:
    """A waybill of ``op`` for vehicle ``plate``: despatch at ``t0_s``, receipt at its last fix, reported
    ``reported_h`` hours after despatch."""
    despatch = dt.datetime.fromtimestamp(t0_s, dt.UTC)
    receipt = dt.datetime.fromtimestamp(float(fixes[-1, 0]), dt.UTC)
    w = factory.waybill(session, op, receipt, factory.vehicle(session, plate, 4.0))
    item = session.scalars(select(WaybillVehicle).where(WaybillVehicle.waybill_id == w.id)).one()
    w.despatch_at = item.despatch_at = despatch
    w.consignment_at = despatch - dt.timedelta(hours=1)
    w.send_to_pro_at = despatch + dt.timedelta(hours=reported_h)
    session.flush()
    _load(session, item, op.id, fixes)
    return item


def _source_times(t0_s: float, rng) -> np.ndarray:
    """Ten app fixes, one every 6-7 minutes from despatch: 45 min of driving, then a wait at the unloading."""
    return t0_s + np.concatenate([[0.0], np.cumsum(rng.uniform(340, 430, 9))])


@pytest.fixture
def platforms(session):
    return factory.operator(session, "甲平台"), factory.operator(session, "乙平台")


@pytest.fixture
def copied(session, platforms):
    """(source item, copy item): the copy keeps fixes 0, 2, 4, 7, 9 of the source, 8 min later, 5 m fresh noise."""
    rng = np.random.default_rng(7)
    t0 = T0.timestamp()
    src = _trip_fixes(t0, _source_times(t0, rng), 40.0, rng)
    keep = src[[0, 2, 4, 7, 9]].copy()
    keep[:, 0] += 480.0
    keep[:, 1:] += rng.normal(0.0, 5.0, (len(keep), 2))
    source = _trip(session, platforms[0], "苏F20H7F", t0, src)
    copy = _trip(session, platforms[1], "苏D4G6SZ", t0 + 480.0, keep)
    return source, copy


@pytest.fixture(params=[480.0, 86400.0 + 300.0], ids=["8 min apart", "a day apart"])
def same_road(request, session, platforms):
    """Two genuine trips on ROAD by two vehicles of two platforms, ``param`` s apart, own sampling and speeds."""
    rng = np.random.default_rng(11)
    t0, t1 = T0.timestamp(), T0.timestamp() + request.param
    first = _trip_fixes(t0, _source_times(t0, rng), 40.0, rng)
    second = _trip_fixes(t1, _source_times(t1, rng)[[0, 2, 4, 7, 9]], 42.0, rng)
    return (_trip(session, platforms[0], "苏F20H7F", t0, first),
            _trip(session, platforms[1], "苏D4G6SZ", t1, second))


@pytest.fixture
def same_waits(session, platforms):
    """Two genuine trips 2 h apart whose only common timing is their waits: both stand 6 min at the same loading
    bay, then drive (40 and 44 km/h) and stand at the unloading place. The sparse one reports while waiting at
    loading, once on the way, and twice at unloading: one shift aligns the moving fix and the waits match at any
    shift, so every fix matches — at three places only, one of them moving."""
    rng = np.random.default_rng(5)
    t0, t1 = T0.timestamp(), T0.timestamp() + 7200.0
    dense = _trip_fixes(t0, t0 + np.arange(0.0, 4500.0, 30.0), 40.0, rng, wait_s=360.0)
    sparse = _trip_fixes(t1, t1 + np.array([120.0, 1500.0, 3500.0, 3800.0]), 44.0, rng, wait_s=360.0)
    return (_trip(session, platforms[0], "苏E51K2A", t0, dense),
            _trip(session, platforms[1], "苏H7M30B", t1, sparse))


def _flagged(found) -> dict[int, int]:
    return {f.waybill_id: f.other_waybill_id for f in found}


def test_backfill_finds_a_short_sparse_thinned_copy_and_spares_its_source(session, copied):
    source, copy = copied
    found = find_duplicated_tracks(session, DAY, DAY)
    assert _flagged(found) == {copy.waybill_id: source.waybill_id}
    [f] = found
    assert abs(f.shift_s - 480.0) <= 10 and f.matched_places >= 4 and f.median_distance_m < 30


def test_live_finds_the_copy_whichever_arrives_first(session, copied):
    source, copy = copied
    index_items(session, [source.id])
    assert _flagged(find_copies(session, [copy.id])) == {copy.waybill_id: source.waybill_id}
    # the copy already indexed, the source arriving later: still the copy (reported later) is flagged
    assert _flagged(find_copies(session, [source.id])) == {copy.waybill_id: source.waybill_id}


def test_backfill_does_not_flag_genuine_sparse_trips_on_the_same_road(session, same_road):
    assert find_duplicated_tracks(session, DAY, DAY + dt.timedelta(days=1)) == []


def test_live_does_not_flag_genuine_sparse_trips_on_the_same_road(session, same_road):
    first, second = same_road
    index_items(session, [first.id])
    assert find_copies(session, [second.id]) == []
    assert find_copies(session, [first.id]) == []


def test_waits_at_the_same_places_are_not_evidence_of_a_copy(session, same_waits):
    first, second = same_waits
    assert find_duplicated_tracks(session, DAY, DAY) == []
    index_items(session, [first.id])
    assert find_copies(session, [second.id]) == []


def test_the_pair_numbers_explain_both_decisions(session, copied, same_waits):
    source, copy = copied
    numbers = compare_items(session, copy.id, source.id)
    assert numbers["matchedShare"] == 1.0 and numbers["matchedPlaces"] >= MIN_MATCHED_PLACES
    assert abs(numbers["shiftS"] - 480.0) <= 10
    first, second = same_waits
    numbers = compare_items(session, second.id, first.id)
    assert numbers["matchedShare"] == 1.0 and numbers["matchedPlaces"] < MIN_MATCHED_PLACES  # waits: 3 places
