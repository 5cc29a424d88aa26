"""Reading an item's fixes and places: the one-query-for-many path returns what the per-item path does."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select, text

from store.models import WaybillVehicle
from trajectories.fixes import (
    COORDINATE_RADIUS_M,
    WaybillNotFoundError,
    fixes_for_item,
    fixes_for_items,
    get_waybill,
    places_for_item,
    places_for_items,
    waybill_items,
    window,
)

# What an item's fixes are, read the plain way (one row per fix): the bulk read (one binary array per item and
# source) must give exactly these rows, values and order.
_PLAIN = text(
    """
    SELECT p.t AS fix_t, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat, p.source, p.speed_kmh,
           p.shipping_note_number IS NOT DISTINCT FROM w.shipping_note_number AS mine
    FROM position p JOIN waybill w ON w.id = :waybill_id
    WHERE p.vehicle_number = :vn AND p.plate_color = :pc AND p.t BETWEEN :t0 AND :t1
      AND (p.source = 2 OR p.operator_id = w.operator_id)
    ORDER BY p.source, p.t
    """
)


def test_fixes_for_items_are_the_plate_window_rows_of_both_sources(psession):
    items = psession.scalars(select(WaybillVehicle).order_by(WaybillVehicle.id)).all()
    bulk = fixes_for_items(psession, items)
    assert set(bulk) == {i.id for i in items}
    assert any(len(f[1]) for f in bulk.values()) and any(len(f[2]) for f in bulk.values())
    assert any(f[1]["for_this_waybill"].any() for f in bulk.values())
    for item in items:
        t0, t1 = window(item)
        rows = psession.execute(_PLAIN, {"waybill_id": item.waybill_id, "vn": item.vehicle_number,
                                         "pc": item.plate_color, "t0": t0, "t1": t1}).all()
        one = fixes_for_item(psession, item)
        assert set(bulk[item.id]) == set(one) == {1, 2}
        for source, df in one.items():
            pd.testing.assert_frame_equal(bulk[item.id][source], df)
            mine = [r for r in rows if r.source == source]
            assert df["t"].tolist() == [pd.Timestamp(r.fix_t) for r in mine]
            assert df["lon"].tolist() == [r.lon for r in mine] and df["lat"].tolist() == [r.lat for r in mine]
            assert (df["source"] == source).all() and df.index.equals(pd.RangeIndex(len(mine)))
            assert df["speed_reported_kmh"].tolist() == pytest.approx(
                [float("nan") if r.speed_kmh is None else r.speed_kmh for r in mine], rel=1e-6, nan_ok=True)
            assert df["for_this_waybill"].tolist() == [bool(r.mine) for r in mine]
    assert fixes_for_items(psession, []) == {}


def test_an_item_reads_only_the_sources_asked_for(psession):
    item = psession.scalars(select(WaybillVehicle).order_by(WaybillVehicle.id)).first()
    both = fixes_for_item(psession, item)
    only = fixes_for_item(psession, item, sources=(2,))
    assert set(only) == {2}
    pd.testing.assert_frame_equal(only[2], both[2])


def test_window_pads_two_hours_both_sides(psession):
    item = psession.scalars(select(WaybillVehicle).order_by(WaybillVehicle.id)).first()
    assert window(item) == (item.despatch_at - dt.timedelta(hours=2), item.receipt_at + dt.timedelta(hours=2))


def test_places_for_items_equals_places_for_item(psession):
    items = psession.scalars(select(WaybillVehicle).order_by(WaybillVehicle.id)).all()
    bulk = places_for_items(psession, items)
    assert set(bulk) == {i.id for i in items}
    for item in items:
        loading, unloading = places_for_item(psession, item)
        assert bulk[item.id] == (loading, unloading)
        assert loading.division_code == item.loading_division_code
        assert unloading.division_code == item.receipt_division_code
        if loading.from_coordinates:
            assert loading.radius_m == unloading.radius_m == COORDINATE_RADIUS_M


def test_waybill_items_in_seq_order_and_unknown_waybill(psession):
    item = psession.scalars(select(WaybillVehicle).order_by(WaybillVehicle.id)).first()
    assert get_waybill(psession, item.waybill_id).id == item.waybill_id
    seqs = [i.seq for i in waybill_items(psession, item.waybill_id)]
    assert seqs == sorted(seqs) and item.seq in seqs
    assert waybill_items(psession, 10**9) == []
    with pytest.raises(WaybillNotFoundError):
        get_waybill(psession, 10**9)
