"""H3 parent masks and the density roll-up on the generated province (here for its fixture: the code is in
geo.hexes and supervision.statistics.density)."""

from __future__ import annotations

import h3
import numpy as np
from sqlalchemy import func, select

from core.beijing import BEIJING, day_bounds
from geo.hexes import parent_masks
from store.models import DensityDaily, Position
from supervision.statistics.density import rollup_density


def test_parent_masks_agree_with_h3():
    rng = np.random.default_rng(1)
    for lat, lon in zip(rng.uniform(20, 45, 20), rng.uniform(100, 125, 20)):
        cell9 = h3.latlng_to_cell(lat, lon, 9)
        for res in (0, 5, 7, 8, 9):
            clear, set_ = parent_masks(res)
            assert (h3.str_to_int(cell9) & clear) | set_ == h3.str_to_int(h3.cell_to_parent(cell9, res))


def test_rollup_density_counts_fixes_per_cell_and_is_idempotent(psession):
    day = psession.scalar(select(func.min(Position.t))).astimezone(BEIJING).date()
    t0, t1 = day_bounds(day)
    n_day = psession.scalar(select(func.count()).select_from(Position).where(Position.t >= t0, Position.t < t1))
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


def test_density_of_a_county_user_stays_inside_its_county(psession):
    from auth.scope import Scope
    from geo import gazetteer
    from geo.distance import haversine_m
    from store.models import AppUser
    from supervision.statistics.density import density_geojson

    day = psession.scalar(select(func.min(Position.t))).astimezone(BEIJING).date()
    rollup_density(psession, day, resolutions=(7,))
    everywhere = (70.0, 15.0, 140.0, 55.0)
    # an admin: analysts get the k-floor (tests/supervision/statistics/test_privacy.py), which drops cells here
    province = density_geojson(psession, everywhere, scope=Scope.of(AppUser(id=1, username="a", role="admin")),
                               res=7, date_from=day, date_to=day)
    cells = {f["properties"]["h3"] for f in province["features"]}
    assert len(cells) > 1
    # the county around the densest cell
    lat, lon = h3.cell_to_latlng(province["features"][0]["properties"]["h3"])
    county = min((d for _, d in gazetteer.divisions(level="county").iterrows()),
                 key=lambda d: haversine_m(lon, lat, d.lon, d.lat))
    user = AppUser(id=2, username="c", role="county", division_code=county.code)
    mine = density_geojson(psession, everywhere, scope=Scope.of(user), res=7, date_from=day, date_to=day)
    inside = {f["properties"]["h3"] for f in mine["features"]}
    assert inside and inside < cells
    division = gazetteer.get(county.code)
    for cell in inside:
        c_lat, c_lon = h3.cell_to_latlng(cell)
        assert haversine_m(c_lon, c_lat, division.lon, division.lat) <= division.radius_m
    assert mine["totalFixes"] < province["totalFixes"]
