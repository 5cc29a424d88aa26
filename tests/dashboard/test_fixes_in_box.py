"""A map zoomed into part of a huge waybill asks for the fixes of that part: the same fixes the whole map shows
this viewer, cut to the box."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from auth.scope import Scope
from trajectories import maps as trajectory_maps


def _shown(fc, src):
    feats = [f for f in fc["features"] if f["properties"]["kind"] == "fixes" and f["properties"]["source"] == src]
    coords = np.asarray([c for f in feats for c in f["geometry"]["coordinates"]], dtype=float).reshape(-1, 2)
    times = np.asarray([x for f in feats for x in f["properties"]["t"]], dtype=float)
    return coords, times


def test_fixes_in_a_box_are_the_shown_fixes_inside_it(engine, facts):
    wid = facts["speed_id"]
    with Session(engine) as s:
        for scope in (Scope(role="province", division_prefix="34"), Scope(role="operator", operator_id=facts["operator_id"])):
            fc = trajectory_maps.trajectory_geojson(s, wid, scope=scope)
            for src in ("app", "beidou"):
                coords, times = _shown(fc, src)
                if len(coords) < 4:
                    continue
                # the whole world's box: every fix shown, at full precision
                lon, _lat, t = trajectory_maps.fixes_in_box(s, wid, (-180, -85, 180, 85), scope=scope)[src]
                np.testing.assert_allclose(t, np.sort(times))
                np.testing.assert_allclose(np.sort(lon), np.sort(coords[:, 0]), atol=1e-6)
                # the western half of their extent: exactly the fixes inside it, in time order (for playback)
                mid = float(np.median(lon))
                got = trajectory_maps.fixes_in_box(s, wid, (-180, -85, mid, 85), scope=scope)[src]
                inside = lon <= mid
                assert 0 < got[0].size < len(lon)
                np.testing.assert_array_equal(got[2], t[inside])
                np.testing.assert_array_equal(got[0], lon[inside])
