"""Reading an item's fixes and places: the one-query-for-many path returns what the per-item path does."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select

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


def test_fixes_for_items_equals_fixes_for_item_per_item(psession):
    items = psession.scalars(select(WaybillVehicle).order_by(WaybillVehicle.id)).all()
    bulk = fixes_for_items(psession, items)
    assert set(bulk) == {i.id for i in items}
    assert any(len(f[1]) for f in bulk.values()) and any(len(f[2]) for f in bulk.values())
    for item in items:
        one = fixes_for_item(psession, item)
        assert set(bulk[item.id]) == set(one) == {1, 2}
        for source, df in one.items():
            pd.testing.assert_frame_equal(bulk[item.id][source], df)
            t0, t1 = window(item)
            assert df["t"].between(t0, t1).all() and (df["source"] == source).all()
    assert fixes_for_items(psession, []) == {}


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
