"""TRACK_* rules: each fires on a crafted case and stays quiet on its clean twin."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from trajectories import RULE_CODES, Thresholds, verify
from trajectories.verify import _isos

from .helpers import DEG_PER_M_LAT, DEG_PER_M_LON, LAT0, LON0, T0_S, fixes, ts
from .scenario import DESPATCH_S, RECEIPT_S, WINDOW, make_input, place, position, source


def _rule(verdict, code):
    r = verdict.rule(code)
    assert r is not None, f"{code} not evaluated"
    return r


def test_clean_trip_passes_and_reports_every_rule():
    v = verify(make_input())
    assert v.verdict == "PASS"
    assert [r.code for r in v.rules] == list(RULE_CODES)
    assert v.fired == []
    assert _rule(v, "TRACK_LOW_COVERAGE").numbers["coverage"] == 1.0
    # Chords cut the zigzag's corners a little: just under 1.2.
    assert _rule(v, "TRACK_LENGTH_IMPLAUSIBLE").numbers["ratio"] == pytest.approx(1.2, abs=0.01)
    assert _rule(v, "TRACK_START_MISMATCH").numbers["distance_m"] == pytest.approx(0.0, abs=0.1)
    assert _rule(v, "TRACK_SOURCE_CONFLICT").numbers["share"] == 0.0
    assert set(v.stats) == {"app", "beidou"} and v.stats["beidou"].n_fixes == 781
    for r in v.rules:
        assert r.reason_zh and r.reason_en


@pytest.mark.parametrize(("south_m", "fired"), [(3100.0, True), (2900.0, False)])
def test_start_mismatch_just_outside_vs_inside_radius(south_m, fired):
    # South of the origin: the truck only ever moves north-east of it, so the parked fixes are nearest.
    v = verify(make_input(loading=place(0.0, -south_m)))
    r = _rule(v, "TRACK_START_MISMATCH")
    assert r.fired is fired
    assert r.numbers["distance_m"] == pytest.approx(south_m, abs=1.0)
    assert r.numbers["radius_m"] == 3000.0
    assert v.verdict == ("FAIL" if fired else "PASS")


def test_division_place_uses_its_own_radius():
    v = verify(make_input(loading=place(0.0, -3100.0, radius_m=5000.0, from_coordinates=False)))
    r = _rule(v, "TRACK_START_MISMATCH")
    assert not r.fired and r.numbers["radius_m"] == 5000.0


@pytest.mark.parametrize(("north_m", "fired"), [(-3100.0, True), (-2900.0, False)])
def test_end_mismatch_just_outside_vs_inside_radius(north_m, fired):
    v = verify(make_input(unloading=place(100_000.0, north_m)))
    r = _rule(v, "TRACK_END_MISMATCH")
    assert r.fired is fired
    assert r.numbers["distance_m"] == pytest.approx(abs(north_m), abs=1.0)


def test_start_without_any_fix_near_despatch_is_suspect_not_fail():
    late = T0_S + 2 * 3600 + 60  # both sources start after despatch + 2 h
    inp = make_input(beidou=source(30, start_s=late), app=source(180, start_s=late))
    v = verify(inp)
    r = _rule(v, "TRACK_START_MISMATCH")
    assert r.fired and r.severity == "SUSPECT" and r.numbers["distance_m"] is None


@pytest.mark.parametrize(("gap_min", "coverage", "fired"), [(37.5, 0.75, True), (29, 1.0, False)])
def test_low_coverage_75_percent_vs_gap_under_30_min(gap_min, coverage, fired):
    # RULES.md §2: coverage is measured over the 150-min transport period, not the 390-min window; a gap
    # of 37.5 min leaves 75 % covered, one under 30 min is no gap at all.
    drop = (DESPATCH_S + 600, DESPATCH_S + 600 + gap_min * 60)  # fixes on both ends stay
    v = verify(make_input(beidou=source(30, drop=drop), app=source(180, drop=drop)))
    r = _rule(v, "TRACK_LOW_COVERAGE")
    assert r.numbers["coverage"] == pytest.approx(coverage, abs=1e-4)
    assert r.fired is fired
    assert v.verdict == ("SUSPECT" if fired else "PASS")


def test_app_silent_outside_the_waybill_is_fully_covered():
    # A driver's app reports only while the waybill is open: nothing in either margin is not a gap.
    app = source(180, start_s=DESPATCH_S, end_s=RECEIPT_S)
    v = verify(make_input(beidou=None, app=app))
    r = _rule(v, "TRACK_LOW_COVERAGE")
    assert not r.fired and r.numbers["coverage"] == 1.0
    assert v.verdict == "PASS"


def test_app_silent_with_a_long_gap_inside_the_period_is_low_coverage():
    app = source(180, start_s=DESPATCH_S, end_s=RECEIPT_S, drop=(DESPATCH_S + 1800, DESPATCH_S + 1800 + 3600))
    v = verify(make_input(beidou=None, app=app))
    r = _rule(v, "TRACK_LOW_COVERAGE")
    assert r.fired and r.numbers["coverage"] < 0.8


def _teleport(sideways_m):
    t_from = DESPATCH_S + 2 * 3600 + 600  # parked at the unloading place; three fixes displaced together

    def shift(t):
        inside = (t >= t_from) & (t < t_from + 90)
        return np.zeros(t.size), np.where(inside, sideways_m, 0.0)

    return shift


@pytest.mark.parametrize(("sideways_m", "fired"), [(1667.0, True), (750.0, False)])
def test_impossible_speed_200_vs_90_kmh(sideways_m, fired):
    # A parked truck's fixes step 1667 m away and back in 30 s: 200 km/h; 750 m: 90 km/h.
    v = verify(make_input(beidou=source(30, shift=_teleport(sideways_m))))
    r = _rule(v, "TRACK_IMPOSSIBLE_SPEED")
    assert r.fired is fired
    top = r.numbers["by_source"]["beidou"]["max_speed_kmh"]
    assert top == pytest.approx(200.04 if fired else 90.0, abs=0.05)  # numbers keep 0.1 km/h
    assert v.tracks["beidou"].clean_report.n_out == 781  # the three-fix block is not cleaned away
    if fired:
        assert v.verdict == "FAIL"
        kinds = [f["properties"]["kind"] for f in v.evidence["features"]]
        assert kinds.count("speed_segment") == 2  # into and out of the block


def test_isolated_spike_does_not_fire_speed():
    def spike(t):
        return np.zeros(t.size), np.where(t == DESPATCH_S + 3600, 20_000.0, 0.0)

    v = verify(make_input(beidou=source(30, shift=spike)))
    assert not _rule(v, "TRACK_IMPOSSIBLE_SPEED").fired
    assert v.tracks["beidou"].clean_report.n_out == 780


@pytest.mark.parametrize(
    ("unload_east_m", "fired", "ratio"), [(240_000.0, True, 0.5), (100_000.0, False, 1.2)]
)
def test_length_half_vs_one_point_two(unload_east_m, fired, ratio):
    v = verify(make_input(unloading=place(unload_east_m)))
    r = _rule(v, "TRACK_LENGTH_IMPLAUSIBLE")
    assert r.fired is fired and r.numbers["evaluated"]
    assert r.numbers["ratio"] == pytest.approx(ratio, abs=0.01)
    assert r.numbers["source"] == "beidou"


def test_length_not_judged_for_short_straight_distance():
    v = verify(make_input(unloading=place(4000.0)))
    r = _rule(v, "TRACK_LENGTH_IMPLAUSIBLE")
    assert not r.fired and r.numbers["evaluated"] is False


def _conflict(plateau_min):
    # The app drifts 6 km north over 10 min, stays, drifts back: > 5 km for plateau + 2 × 100 s.
    t0 = DESPATCH_S + 1800
    ramp = 600.0

    def shift(t):
        w = np.clip(np.minimum(t - t0, t0 + 2 * ramp + plateau_min * 60 - t) / ramp, 0.0, 1.0)
        return np.zeros(t.size), 6000.0 * w

    return shift


@pytest.mark.parametrize(("plateau_min", "share", "fired"), [(113.7, 0.30, True), (35.7, 0.10, False)])
def test_source_conflict_30_vs_10_percent(plateau_min, share, fired):
    v = verify(make_input(app=source(60, shift=_conflict(plateau_min))))
    r = _rule(v, "TRACK_SOURCE_CONFLICT")
    assert r.numbers["share"] == pytest.approx(share, abs=0.01)
    assert r.fired is fired
    assert not _rule(v, "TRACK_IMPOSSIBLE_SPEED").fired
    assert v.verdict == ("FAIL" if fired else "PASS")


def test_missing_when_no_fix_in_window():
    day_before = source(30, start_s=WINDOW[0] - 86400, end_s=WINDOW[0] - 80000)
    for inp in (make_input(beidou=day_before, app=None), make_input(beidou=None, app=None)):
        v = verify(inp)
        assert v.verdict == "NO_DATA"
        assert [r.code for r in v.rules] == ["TRACK_MISSING"] and v.rules[0].fired


def test_missing_when_fixes_only_in_the_margins():
    # The vehicle's previous and next trips fall inside the ±2 h margins: no fix of this period at all.
    before = source(30, start_s=WINDOW[0], end_s=DESPATCH_S - 600)
    after = source(30, start_s=RECEIPT_S + 600, end_s=WINDOW[1])
    both = pd.concat([before, after], ignore_index=True)
    v = verify(make_input(beidou=both, app=None))
    assert v.verdict == "NO_DATA" and v.fired == ["TRACK_MISSING"]
    assert v.rules[0].numbers["n_fixes_in_period"] == {"beidou": 0}
    # Its twin: one fix inside the period is enough for the rule to stay quiet.
    one = pd.concat([both, source(30, start_s=DESPATCH_S + 3600, end_s=DESPATCH_S + 3600)], ignore_index=True)
    assert not verify(make_input(beidou=one, app=None)).rules[0].fired


def _back_to_back(prev_end_s, next_start_s):
    """The same vehicle's other waybills: one ending at ``prev_end_s``, one starting at ``next_start_s``."""
    return ((ts(prev_end_s - 4 * 3600), ts(prev_end_s)), (ts(next_start_s), ts(next_start_s + 4 * 3600)))


def _previous_trip_ends_at_loading(step_s, *, own=True):
    """Fixes of a previous trip arriving at the loading place from the west until 40 min before despatch,
    then (if ``own``) this waybill's own fixes from despatch on."""
    t = np.arange(WINDOW[0], DESPATCH_S - 2400 + 1, step_s, dtype=np.float64)
    east = -((DESPATCH_S - 2400) - t) * 60 / 3.6  # driving in at 60 km/h, arriving 40 min early
    prev = fixes(t, east)
    return prev if not own else pd.concat([prev, source(step_s, start_s=DESPATCH_S)], ignore_index=True)


def test_back_to_back_previous_trip_in_the_margin_does_not_count():
    # Trucks run back to back (RULES.md §2): the previous waybill's fixes in this one's margin are that
    # waybill's; this one has none of its own, so it is MISSING (not a START/END mismatch).
    prev = _previous_trip_ends_at_loading(30, own=False)
    others = _back_to_back(DESPATCH_S - 2400, RECEIPT_S + 3600)
    inp = make_input(beidou=prev, app=None)
    for v in (verify(inp), verify(dataclasses.replace(inp, other_periods=others))):
        assert v.verdict == "NO_DATA" and v.fired == ["TRACK_MISSING"]
    assert verify(dataclasses.replace(inp, other_periods=others)).stats["beidou"].n_fixes == 1  # its end only


def test_back_to_back_clean_twin_passes():
    beidou = _previous_trip_ends_at_loading(30)
    v = verify(dataclasses.replace(make_input(beidou=beidou, app=None),
                                   other_periods=_back_to_back(DESPATCH_S - 2400, RECEIPT_S + 3600)))
    assert v.verdict == "PASS", v.fired
    assert _rule(v, "TRACK_LOW_COVERAGE").numbers["coverage"] == 1.0


def test_back_to_back_start_mismatch_is_not_hidden_by_the_previous_trip():
    # The declared loading place is where the previous trip ended (the west end of its drive), 20 km
    # from where this trip really starts: the previous trip's fixes must not confirm it.
    prev = _previous_trip_ends_at_loading(30)
    prev_end = DESPATCH_S - 2400
    loading = place(-20_000.0)
    inp = make_input(beidou=prev, app=None, loading=loading)
    # The previous trip drove through (-20 km, 0) 20 min before it ended: inside this waybill's margin.
    assert not _rule(verify(inp), "TRACK_START_MISMATCH").fired
    v = verify(dataclasses.replace(inp, other_periods=_back_to_back(prev_end, RECEIPT_S + 3600)))
    r = _rule(v, "TRACK_START_MISMATCH")
    assert r.fired and r.numbers["distance_m"] == pytest.approx(20_000.0, abs=5.0)


def test_speed_is_judged_only_in_the_transport_period():
    # A 200 km/h step in the margin (another trip's business, or a parked truck's glitch) is not judged.
    t_from = RECEIPT_S + 1800

    def shift(t):
        return np.zeros(t.size), np.where((t >= t_from) & (t < t_from + 90), 1667.0, 0.0)

    v = verify(make_input(beidou=source(30, shift=shift)))
    assert not _rule(v, "TRACK_IMPOSSIBLE_SPEED").fired


def test_app_only_passes_and_conflict_is_not_compared():
    v = verify(make_input(beidou=None))
    assert v.verdict == "PASS"
    r = _rule(v, "TRACK_SOURCE_CONFLICT")
    assert not r.fired and r.numbers["evaluated"] is False
    assert _rule(v, "TRACK_LENGTH_IMPLAUSIBLE").numbers["source"] == "app"


def test_evidence_is_geojson_with_the_expected_parts():
    v = verify(make_input(loading=place(0.0, -3100.0)))
    ev = json.loads(json.dumps(v.evidence))  # JSON-serialisable as is
    assert ev["type"] == "FeatureCollection"
    kinds = {
        (f["properties"]["kind"], f["properties"].get("role") or f["properties"].get("source"))
        for f in ev["features"]
    }
    assert {
        ("track", "beidou"),
        ("track", "app"),
        ("place", "loading"),
        ("place", "unloading"),
        ("matched_fix", "start"),
        ("matched_fix", "end"),
    } <= kinds
    place_feat = next(f for f in ev["features"] if f["properties"]["kind"] == "place")
    assert place_feat["geometry"]["type"] == "Point" and place_feat["properties"]["radius_m"] == 3000.0


def test_thresholds_are_configurable():
    v = verify(make_input(loading=place(0.0, -3100.0)), thresholds=Thresholds(coordinates_radius_m=3500.0))
    assert not _rule(v, "TRACK_START_MISMATCH").fired


def test_evidence_names_the_removed_spike_and_the_gap_with_their_times():
    def spike(t):
        return np.zeros(t.size), np.where(t == DESPATCH_S + 7200, 20_000.0, 0.0)

    drop = (DESPATCH_S + 600, DESPATCH_S + 600 + 98 * 60)
    v = verify(make_input(beidou=source(30, shift=spike, drop=drop), app=None))
    feats = v.evidence["features"]
    [removed] = [f for f in feats if f["properties"]["kind"] == "removed_fix"]
    assert removed["properties"] == {"kind": "removed_fix", "source": "beidou", "reason": "spike",
                                     "t": "2025-03-01T10:00:00+00:00"}
    east, north = position(DESPATCH_S + 7200)
    assert removed["geometry"]["coordinates"] == pytest.approx(
        [LON0 + east * DEG_PER_M_LON, LAT0 + (north + 20_000.0) * DEG_PER_M_LAT], abs=5e-7)
    [gap] = [f for f in feats if f["properties"]["kind"] == "gap"]
    assert gap["properties"] == {"kind": "gap", "source": "beidou", "start": "2025-03-01T08:10:00+00:00",
                                 "end": "2025-03-01T09:48:00+00:00", "duration_s": 5880.0}
    [track] = [f for f in feats if f["properties"]["kind"] == "track"]
    assert track["properties"]["start"] == "2025-03-01T06:00:00+00:00"  # window start: despatch − 2 h
    assert track["properties"]["times_s"][:2] == [DESPATCH_S - 7200, DESPATCH_S - 7170]
    n = track["properties"]["n_fixes"]
    assert len(track["properties"]["times_s"]) == len(track["geometry"]["coordinates"]) == n


def test_evidence_times_print_as_pandas_isoformat():
    t_us = np.array([T0_S * 1_000_000, T0_S * 1_000_000 + 250_000, T0_S * 1_000_000 + 1])
    assert _isos(t_us) == ["2025-03-01T08:00:00+00:00", "2025-03-01T08:00:00.250000+00:00",
                           "2025-03-01T08:00:00.000001+00:00"]
    assert _isos(t_us) == [pd.Timestamp(int(u), unit="us", tz="UTC").isoformat() for u in t_us]
