"""The parallel density roll-up (time slices in their own sessions, merged) writes exactly the rows of the
one-session roll-up, vehicles crossing a slice boundary included (own database: the slices commit)."""

from __future__ import annotations

import datetime as dt

import h3
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from supervision.statistics.density import rollup_density, rollup_density_parallel
from tests.conftest import make_database

DAY = dt.date(2024, 3, 15)
T0 = dt.datetime(2024, 3, 14, 16, tzinfo=dt.UTC)  # Beijing midnight


def _rows(session) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(
        "SELECT res, source, h3, fixes, vehicles, vehicle_keys FROM density_daily WHERE day = :d "
        "ORDER BY res, source, h3"), {"d": DAY})]


def test_parallel_rollup_equals_the_one_session_rollup(pg_admin_dsn):
    eng = create_engine(make_database(pg_admin_dsn))
    try:
        with Session(eng) as s:
            s.execute(text("SELECT wlhy_ensure_position_partition(:d)"), {"d": DAY})
            for v in range(6):
                for i in range(48):  # every half hour all day: every truck crosses the slices' boundary
                    lon, lat = 117.0 + v * 0.01 + i * 0.002, 31.8
                    cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, 9))
                    s.execute(text(
                        "INSERT INTO position (t, vehicle_number, plate_color, source, geom, h3, operator_id) "
                        "VALUES (:t, :p, '2', :src, ST_SetSRID(ST_MakePoint(:x, :y), 4326), :h, :op)"),
                        {"t": T0 + dt.timedelta(minutes=30 * i), "p": f"皖A{v}", "src": 1 + v % 2, "x": lon,
                         "y": lat, "h": cell, "op": 0 if v % 2 else 1})
            s.commit()
            rollup_density(s, DAY)
            s.commit()
            single = _rows(s)
        assert rollup_density_parallel(sessionmaker(eng), DAY, shards=3) == len(single)
        with Session(eng) as s:
            assert _rows(s) == single
            assert s.scalar(text("SELECT count(*) FROM density_stage")) == 0
    finally:
        eng.dispose()
