"""build(): stats, clipping, LINESTRING M export and the MovingPandas facade."""

import re
import warnings

import numpy as np
import pytest

from trajectories import TrajectoryError, build, linestring_m_wkt, to_movingpandas

from .helpers import T0_S, drive, fixes, ts


def _built():
    t, east, north = drive(T0_S, 3600, 60, 60.0)  # 60 km in 1 h
    df = fixes(np.r_[t[:30], t[30:]], east, north)
    return build(df.iloc[::-1], window_start=ts(T0_S - 600), window_end=ts(T0_S + 3000))


def test_build_clips_to_window_and_measures():
    b = _built()
    s = b.stats
    assert s.n_fixes == 51  # 0..3000 s, reversed input sorted back
    assert s.started_at == ts(T0_S) and s.ended_at == ts(T0_S + 3000)
    assert s.length_m == pytest.approx(50_000.0, rel=1e-9)
    assert s.coverage == pytest.approx(3000 / 3600)  # the first 10 min of the window have no fix
    assert s.max_gap_s == 600.0
    assert s.max_speed_kmh == pytest.approx(60.0) and s.median_speed_kmh == pytest.approx(60.0)
    assert s.n_stops == 0 and b.gaps.empty
    assert b.clean_report.out_of_order == 60  # every fix after the first arrived too early
    assert b.h3_path.size > 10
    d = s.to_dict()
    assert d["started_at"] == "2025-03-01T08:00:00+00:00"


def test_linestring_m_wkt_is_a_valid_trajectory():
    b = _built()
    wkt = linestring_m_wkt(b.fixes)
    assert wkt.startswith("LINESTRING M (117 31 1740816000, ")
    m = [float(v.split()[2]) for v in re.findall(r"[^,()]+ [^,()]+ [^,()]+", wkt[len("LINESTRING M ") :])]
    assert len(m) == 51 and np.all(np.diff(m) > 0)
    assert linestring_m_wkt(b.fixes.iloc[:1]) is None
    with pytest.raises(TrajectoryError, match="strictly increasing"):
        linestring_m_wkt(b.fixes.iloc[[0, 0, 1]])


def test_to_movingpandas_agrees_on_length():
    pytest.importorskip("movingpandas")
    b = _built()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traj = to_movingpandas(b, "wb-1")
        assert traj.id == "wb-1" and traj.size() == 51
        assert traj.get_length() == pytest.approx(b.stats.length_m, rel=5e-3)
    with pytest.raises(TrajectoryError):
        to_movingpandas(build(b.fixes.iloc[:1], window_start=ts(T0_S), window_end=ts(T0_S + 60)), "x")


def test_build_without_fixes():
    b = build(fixes([], []), window_start=ts(T0_S), window_end=ts(T0_S + 600))
    s = b.stats
    assert s.n_fixes == 0 and s.started_at is None and s.coverage == 0.0 and s.max_gap_s == 600.0
    assert s.to_dict()["max_speed_kmh"] is None


def test_stored_arrays_match_the_frames():
    """What verification stores comes from the track's arrays (``columns``, ``stop_table``): it must be what the
    frames a caller reads (``fixes``, ``stops``) say, stops and removed fixes included."""
    from trajectories import verification

    t, east, north = drive(T0_S, 3600, 60, 60.0)
    east = np.where((t > T0_S + 600) & (t < T0_S + 1800), east[10], east)  # a 20-min stop
    east[40] += 30_000.0  # a spike, cleaned away
    df = fixes(t, east, north)
    b = build(df, window_start=ts(T0_S), window_end=ts(T0_S + 3600))
    assert b.stats.n_stops == len(b.stops) == 1 and b.clean_report.spikes == 1
    assert len(b.fixes) == b.stats.n_fixes == b.columns["t_us"].size
    for name in ("lon", "lat", "distance_m", "duration_s", "speed_kmh"):
        assert b.fixes[name].to_numpy().tolist() == b.columns[name].tolist()
    assert (b.fixes["t"].array.asi8 == b.columns["t_us"]).all()
    assert verification._stop_records(b.stop_table) == verification._records(b.stops)
    assert verification._stop_records(b.stop_table)[0]["n"] == 20
