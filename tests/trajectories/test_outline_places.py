"""Division-level places are matched against the division's real outline plus a buffer (spec/RULES.md §2).

宣州区 (341802) is 85 km from north to south; its gazetteer point and radius (23.6 km) describe a circle that
leaves out its southern tip and takes in parts of its neighbours. A truck that loads in the tip is in the
named division; a truck 5 km outside the border is not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geo import gazetteer, outlines
from geo.distance import haversine_m
from trajectories import VerificationInput, verify
from trajectories.columns import LAT, LON, T
from trajectories.fixes import COORDINATE_RADIUS_M, DIVISION_BUFFER_M, _place, window
from trajectories.verify import Place, place_distance_m

from .helpers import T0_S, ts

CODE = "341802"  # 宣州区, 宣城市, 安徽省
DESPATCH_S = T0_S
RECEIPT_S = T0_S + 3 * 3600


def _division_place(code: str = CODE) -> Place:
    return _place(None, None, code, False)


def _far_inside_point() -> tuple[float, float]:
    """A point inside the outline (by more than the buffer) as far as possible from the division's point."""
    geom, d = outlines.outline(CODE), gazetteer.get(CODE)
    x0, y0, x1, y1 = geom.bounds
    lon, lat = np.meshgrid(np.linspace(x0, x1, 80), np.linspace(y0, y1, 80))
    lon, lat = lon.ravel(), lat.ravel()
    inside = shapely.contains_xy(geom, lon, lat)
    lon, lat = lon[inside], lat[inside]
    deep = outlines.distance_to_outline_m(CODE, lon, lat) == 0  # all inside; keep those well away from the edge
    far = haversine_m(lon, lat, d.lon, d.lat)
    ring = shapely.get_exterior_ring(shapely.get_geometry(geom, 0))
    edge_m = np.array([shapely.distance(ring, shapely.Point(x, y)) * 111_000 for x, y in zip(lon, lat)])
    ok = deep & (edge_m > 3000)
    k = int(np.argmax(np.where(ok, far, -1)))
    return float(lon[k]), float(lat[k])


def _outside_point(beyond_m: float) -> tuple[float, float]:
    """A point east of the division, ``beyond_m`` (±100 m) from its outline."""
    d = gazetteer.get(CODE)
    lons = d.lon + np.arange(0.0, 1.5, 0.0005)
    lats = np.full(lons.size, d.lat)
    dist = outlines.distance_to_outline_m(CODE, lons, lats)
    k = int(np.argmax(dist >= beyond_m))
    return float(lons[k]), float(lats[k])


def _parked_at(lon: float, lat: float) -> pd.DataFrame:
    """A truck parked at (lon, lat) from an hour before despatch to receipt, a fix a minute."""
    t = np.arange(DESPATCH_S - 3600, RECEIPT_S + 1, 60.0)
    return pd.DataFrame({T: ts(t), LON: np.full(t.size, lon), LAT: np.full(t.size, lat)})


def _start_rule(loading: Place, at: tuple[float, float]):
    inp = VerificationInput(ts(DESPATCH_S), ts(RECEIPT_S), loading, Place(at[0], at[1], 0.0, True),
                            app=_parked_at(*at))
    return verify(inp).rule("TRACK_START_MISMATCH")


def test_a_division_without_coordinates_is_its_outline_with_a_buffer():
    p = _division_place()
    assert p.outline and not p.from_coordinates and p.radius_m == DIVISION_BUFFER_M
    d = gazetteer.get(CODE)
    assert (p.lon, p.lat) == (d.lon, d.lat)  # the point stays: straight lines, the map's label
    # Given coordinates are a circle of 3 km; a division without an outline keeps the gazetteer's point + radius.
    given = _place(118.9, 30.9, CODE, True)
    assert not given.outline and given.radius_m == COORDINATE_RADIUS_M
    no_outline = "320576"  # 苏州工业园区: a functional zone, no outline in the source
    assert not outlines.has_outline(no_outline) and gazetteer.get(no_outline) is not None
    fallback = _division_place(no_outline)
    assert not fallback.outline and fallback.radius_m == float(gazetteer.get(no_outline).radius_m)


def test_fix_inside_a_large_county_far_from_its_centre_matches():
    d = gazetteer.get(CODE)
    at = _far_inside_point()
    # Outside the gazetteer circle: the old point + radius match would have called this a mismatch.
    assert haversine_m(at[0], at[1], d.lon, d.lat) > d.radius_m + 3000
    r = _start_rule(_division_place(), at)
    assert not r.fired
    assert r.numbers["distance_m"] == 0.0 and r.numbers["place"]["outline"] is True
    # Clean twin of the old behaviour: the same fix against the circle fails.
    circle = Place(d.lon, d.lat, float(d.radius_m), False, CODE)
    assert _start_rule(circle, at).fired


@pytest.mark.parametrize(("beyond_m", "fired"), [(5000.0, True), (1000.0, False)])
def test_fix_outside_the_buffer_fails_inside_the_buffer_passes(beyond_m, fired):
    at = _outside_point(beyond_m)
    r = _start_rule(_division_place(), at)
    assert r.fired is fired
    assert r.numbers["distance_m"] == pytest.approx(beyond_m, abs=150.0)
    assert r.numbers["radius_m"] == DIVISION_BUFFER_M
    if fired:
        assert r.severity == "FAIL" and CODE in r.reason_en and "outline" in r.reason_en


def test_place_distance_is_zero_inside_and_metres_outside():
    p = _division_place()
    inside, outside = _far_inside_point(), _outside_point(5000.0)
    d = place_distance_m(p, np.array([inside[0]]), np.array([inside[1]]))
    assert d.tolist() == [0.0]
    d = place_distance_m(p, np.array([outside[0]]), np.array([outside[1]]))
    assert d[0] == pytest.approx(5000.0, abs=150.0)


def test_length_uses_where_the_truck_was_seen_in_the_divisions():
    # Loads in 宣州区's far tip and unloads 60 km east of it (given coordinates): the straight line runs from the
    # matched fix, not from the division's centre.
    at = _far_inside_point()
    t = np.arange(DESPATCH_S - 1800, RECEIPT_S + 1, 60.0)
    s = np.clip((t - DESPATCH_S) / (RECEIPT_S - DESPATCH_S), 0, 1)
    end = (at[0] + 0.63, at[1])
    app = pd.DataFrame({T: ts(t), LON: at[0] + s * 0.63, LAT: np.full(t.size, at[1])})
    inp = VerificationInput(ts(DESPATCH_S), ts(RECEIPT_S), _division_place(), Place(*end, 0.0, True), app=app)
    r = verify(inp).rule("TRACK_LENGTH_IMPLAUSIBLE")
    assert r.numbers["straight_from"] == "matched_fixes"
    assert r.numbers["ratio"] == pytest.approx(1.0, abs=0.02) and not r.fired


def test_receipt_before_despatch_is_read_as_swapped_times():
    # The document swapped its times (INTAKE_TIME_ORDER's business): the track is still judged over the span.
    at = _far_inside_point()
    app = _parked_at(*at)
    swapped = VerificationInput(ts(RECEIPT_S), ts(DESPATCH_S), _division_place(), Place(*at, 0.0, True), app=app)
    v = verify(swapped)
    assert "TRACK_MISSING" not in v.fired and v.rule("TRACK_MISSING").numbers["n_fixes_in_period"]["app"] > 0
    assert "TRACK_START_MISMATCH" not in v.fired
    # Clean twin: the same fixes with the times in order agree.
    straight = VerificationInput(ts(DESPATCH_S), ts(RECEIPT_S), _division_place(), Place(*at, 0.0, True), app=app)
    assert verify(straight).fired == v.fired


def test_window_of_an_item_with_swapped_times_spans_both():
    class Item:
        despatch_at = pd.Timestamp(RECEIPT_S, unit="s", tz="UTC").to_pydatetime()
        receipt_at = pd.Timestamp(DESPATCH_S, unit="s", tz="UTC").to_pydatetime()

    a, b = window(Item())
    assert (b - a).total_seconds() == RECEIPT_S - DESPATCH_S + 4 * 3600
