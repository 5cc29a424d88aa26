"""National freight-vehicle platform client against its simulator: 入网 status and BeiDou track windows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from etl.adapters import TRACK_COLUMNS, NationalPlatformClient, TrackWindowTooLongError

from .conftest import PLATE, T0


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


@pytest.fixture
def client(sims):
    with NationalPlatformClient(sims["national"].url, timeout_s=2.0, retries=1, backoff_s=0.01) as c:
        yield c


def test_in_network_status_and_since(client):
    status = client.get_in_network(PLATE, "2")
    assert status is not None and status.in_network and status.since == dt.date(2023, 1, 15)
    assert client.is_in_network(PLATE, "2")
    assert client.is_in_network(PLATE, "2", on=dt.date(2023, 1, 15))
    assert not client.is_in_network(PLATE, "2", on=dt.date(2023, 1, 14))
    assert not client.is_in_network("皖B67890", "2")
    assert client.get_in_network("皖Z00000", "2") is None
    assert not client.is_in_network("皖Z00000", "2")


def test_track_window_is_cut_exactly_at_start_and_end(client):
    start, end = T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=5)
    track = client.get_track(PLATE, "2", start, end)
    expected = [_ms(T0 + dt.timedelta(minutes=m)) for m in (2, 3, 4, 5)]
    assert track.t_ms.tolist() == expected
    np.testing.assert_allclose(track.lon, [117.22, 117.23, 117.24, 117.25])
    # One microsecond narrower on each side drops both edge fixes.
    inner = client.get_track(
        PLATE, "2", start + dt.timedelta(microseconds=1), end - dt.timedelta(microseconds=1)
    )
    assert inner.t_ms.tolist() == expected[1:3]


def test_track_accepts_ministry_and_iso_times(client):
    # 08:02-08:05 Beijing = 00:02-00:05 UTC; "+08:00" must reach the server encoded, not as a space.
    a = client.get_track(PLATE, "2", "20240301080200", "20240301080500")
    b = client.get_track(PLATE, "2", "2024-03-01T08:02:00+08:00", "2024-03-01T08:05:00+08:00")
    c = client.get_track(PLATE, "2", dt.datetime(2024, 3, 1, 8, 2), dt.datetime(2024, 3, 1, 8, 5))
    assert len(a) == 4
    assert a.t_ms.tolist() == b.t_ms.tolist() == c.t_ms.tolist()


def test_track_frame_is_sorted_with_nan_for_missing_altitude(client):
    frame = client.get_track("皖B67890", "2", T0, T0 + dt.timedelta(hours=1)).to_frame()
    assert tuple(frame.columns) == TRACK_COLUMNS
    assert str(frame["t"].dtype) == "datetime64[us, UTC]"
    assert frame["t"].tolist() == [pd.Timestamp(T0 + dt.timedelta(minutes=m)) for m in (1, 5)]
    assert np.isnan(frame["altitude"].iloc[0]) and frame["altitude"].iloc[1] == 20.0
    assert frame["speed_kmh"].tolist() == [10.0, 0.0]


def test_unknown_vehicle_has_an_empty_track(client):
    track = client.get_track("皖Z00000", "2", T0, T0 + dt.timedelta(hours=1))
    assert len(track) == 0 and track.to_frame().empty


def test_window_longer_than_72_hours_is_refused(client):
    assert len(client.get_track(PLATE, "2", T0, T0 + dt.timedelta(hours=72))) == 10
    with pytest.raises(TrackWindowTooLongError) as info:
        client.get_track(PLATE, "2", T0, T0 + dt.timedelta(hours=72, seconds=1))
    assert info.value.status == 400 and info.value.code == "WINDOW_TOO_LONG"
    with pytest.raises(ValueError, match="before start"):
        client.get_track(PLATE, "2", T0, T0 - dt.timedelta(seconds=1))


def test_admin_tracks_then_split_window_fetch_has_no_duplicate_at_the_seam(sims, client, admin):
    plate = "皖C24680"
    times = [T0, T0 + dt.timedelta(hours=72), T0 + dt.timedelta(hours=100)]
    body = {
        "vehicleNumber": plate,
        "vehiclePlateColorCode": "2",
        "t": [_ms(t) for t in times],
        "lon": [117.0, 117.5, 118.0],
        "lat": [31.0, 31.5, 32.0],
        "speedKmh": [0, 50, 60],
        "direction": [0, 90, 180],
    }
    r = admin.post(sims["national"].url + "/admin/tracks", json=body)
    assert r.status_code == 200 and r.json()["loaded"] == 3

    with pytest.raises(TrackWindowTooLongError):
        client.get_track(plate, "2", T0, times[-1])
    track = client.get_track(plate, "2", T0, times[-1], split_window_h=72)
    # The fix at exactly T0 + 72 h closes piece one and opens piece two; it must appear once.
    assert track.t_ms.tolist() == [_ms(t) for t in times]
    assert track.lon.tolist() == [117.0, 117.5, 118.0]


def test_admin_tracks_merge_in_time_order_and_reject_ragged_columns(sims, client, admin):
    url, plate = sims["national"].url + "/admin/tracks", "皖C13579"
    first = {
        "vehicleNumber": plate,
        "vehiclePlateColorCode": "1",
        "t": [_ms(T0), _ms(T0 + dt.timedelta(minutes=2))],
        "lon": [117.0, 117.2],
        "lat": [31.0, 31.2],
        "speedKmh": [1, 2],
        "direction": [0, 0],
    }
    middle = {
        **first,
        "t": [_ms(T0 + dt.timedelta(minutes=1))],
        "lon": [117.1],
        "lat": [31.1],
        "speedKmh": [3],
        "direction": [0],
    }
    admin.post(url, json=first).raise_for_status()
    admin.post(url, json=[middle]).raise_for_status()
    track = client.get_track(plate, "1", T0, T0 + dt.timedelta(minutes=2))
    assert track.lon.tolist() == [117.0, 117.1, 117.2]

    r = admin.post(url, json={**first, "lon": [117.0]})
    assert r.status_code == 422
