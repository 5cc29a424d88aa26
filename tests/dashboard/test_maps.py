"""A huge point set is drawn at screen resolution: at most MAX_POINTS per layer, the same pixels covered."""

from __future__ import annotations

import numpy as np

from dashboard import maps


def _pixels(lon, lat, zoom, cell=4.0):
    world = 512.0 * 2.0 ** zoom
    x = (lon + 180.0) / 360.0 * world
    y = (1.0 - np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) / np.pi) / 2.0 * world
    return set(zip(np.floor(x / cell).astype(int).tolist(), np.floor(y / cell).astype(int).tolist()))


def test_a_million_fixes_become_at_most_max_points_covering_the_same_pixels():
    rng = np.random.default_rng(7)
    n = 1_000_000
    lon = 117.2 + np.cumsum(rng.normal(0, 2e-3, n)) % 3 - 1.5
    lat = 31.8 + np.cumsum(rng.normal(0, 2e-3, n)) % 3 - 1.5
    zoom = maps.view_of(maps.bounds_of(lon, lat))["zoom"]
    keep = maps.thin_indices(lon, lat, zoom)
    assert len(keep) <= maps.MAX_POINTS and keep[0] == 0 and keep[-1] == n - 1
    assert np.all(np.diff(keep) > 0)  # in time order, for playback
    # every 4-pixel block the full track touches is still touched (thinning cells of 1, 2 or 4 px tile it)
    assert _pixels(lon[keep], lat[keep], zoom) == _pixels(lon, lat, zoom)


def test_few_fixes_are_all_kept():
    lon, lat = np.linspace(117, 118, 5000), np.linspace(31, 32, 5000)
    assert maps.thin_indices(lon, lat, zoom=14).tolist() == list(range(5000))


def test_the_view_box_holds_the_view_and_one_view_around_it():
    # 900 × 470 px at zoom 10: the view itself spans 900 / (512·2¹⁰) of the world's 360°
    west, south, east, north = maps.view_box(117.2, 31.8, 10.0, 900, 470, margin=1.0)
    span = 900 / (512 * 2**10) * 360
    assert abs((east - west) - 3 * span) < 1e-9 and west < 117.2 < east and south < 31.8 < north
    inner = maps.view_box(117.2, 31.8, 10.0, 900, 470, margin=0.0)
    assert west < inner[0] and inner[2] < east and south < inner[1] and inner[3] < north
