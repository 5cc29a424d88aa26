"""Cross-waybill rules on a generated province: the injected copied track and overlapping waybill are found."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from store.models import Anomaly, Waybill
from tests.trajectories.db.conftest import PROVINCE
from trajectories.crosscheck import crosscheck_range, find_duplicated_tracks, find_vehicle_overlaps

DAYS = (PROVINCE.start - dt.timedelta(days=1), PROVINCE.start + dt.timedelta(days=PROVINCE.days))


def _labelled(psession, truth, code) -> set[int]:
    notes = [g["key"]["shippingNoteNumber"] for g in truth if g["code"] == code]
    return set(psession.scalars(select(Waybill.id).where(Waybill.shipping_note_number.in_(notes))))


def test_copied_track_is_found_and_only_the_copy_flagged(psession, ground_truth):
    found = find_duplicated_tracks(psession, *DAYS)
    assert {f.waybill_id for f in found} == _labelled(psession, ground_truth, "TRACK_DUPLICATED")
    [f] = found
    copied = next(g for g in ground_truth if g["code"] == "TRACK_DUPLICATED")["detail"]
    # the generator shifted the copy by shiftS: we report the copy's shift relative to its source
    assert abs(f.shift_s - copied["shiftS"]) <= 30
    assert f.matched_share >= 0.8 and f.median_distance_m < 30
    source_note = copied["copiedFrom"]["shippingNoteNumber"]
    assert psession.get(Waybill, f.other_waybill_id).shipping_note_number == source_note


def test_overlapping_waybill_of_one_vehicle_is_found(psession, ground_truth):
    found = find_vehicle_overlaps(psession, *DAYS)
    assert {f.waybill_id for f in found} == _labelled(psession, ground_truth, "TRACK_VEHICLE_OVERLAP")
    assert all(f.overlap_s > 600 and not f.route_supported for f in found)


def test_crosscheck_records_anomalies_idempotently(psession, ground_truth):
    assert crosscheck_range(psession, *DAYS) == {"TRACK_DUPLICATED": 1, "TRACK_VEHICLE_OVERLAP": 1}
    crosscheck_range(psession, *DAYS)
    rows = psession.scalars(select(Anomaly).where(Anomaly.code.in_(["TRACK_DUPLICATED",
                                                                     "TRACK_VEHICLE_OVERLAP"]))).all()
    assert len(rows) == 2
    assert all(r.document_key.startswith(f"waybill:{r.document_id}:") and r.evidence["otherWaybillId"]
               for r in rows)


def test_empty_range_finds_nothing(psession):
    day = dt.date(2020, 1, 1)
    assert find_duplicated_tracks(psession, day, day) == [] and find_vehicle_overlaps(psession, day, day) == []
