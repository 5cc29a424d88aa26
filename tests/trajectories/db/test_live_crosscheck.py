"""The worker runs the cross-waybill rules live: a copy verified after its source is flagged and cites it."""

from __future__ import annotations

from sqlalchemy import func, select

from store.models import Anomaly, TrackSignature, Waybill, WaybillVehicle
from tests.trajectories.db.conftest import clean_waybill_id, labelled_waybill_id
from trajectories.jobs import KIND_VERIFY_BATCH, KIND_VERIFY_WAYBILL, verification_handlers


def _source_and_copy(psession, truth) -> tuple[int, int]:
    copy = labelled_waybill_id(psession, truth, "TRACK_DUPLICATED")
    src = next(g for g in truth if g["code"] == "TRACK_DUPLICATED")["detail"]["copiedFrom"]
    source = psession.scalar(select(Waybill.id).where(Waybill.shipping_note_number == src["shippingNoteNumber"]))
    return source, copy


def _codes(psession, waybill_id: int) -> dict[str, dict]:
    return {a.code: a.evidence for a in psession.scalars(select(Anomaly).where(
        Anomaly.document_id == waybill_id, Anomaly.code.in_(["TRACK_DUPLICATED", "TRACK_VEHICLE_OVERLAP"])))}


def _verify_live(psession, waybill_id: int) -> None:
    verification_handlers()[KIND_VERIFY_WAYBILL](psession, {"waybill_id": waybill_id})


def test_copy_arriving_after_its_source_is_flagged_live_citing_the_source(psession, ground_truth):
    source, copy = _source_and_copy(psession, ground_truth)
    _verify_live(psession, source)
    assert _codes(psession, source) == {}  # nothing to compare with yet
    # the source's track is in the index now, under its item
    item = psession.scalar(select(WaybillVehicle.id).where(WaybillVehicle.waybill_id == source))
    assert psession.scalar(select(func.count()).select_from(TrackSignature)
                           .where(TrackSignature.waybill_vehicle_id == item)) >= 4
    _verify_live(psession, copy)
    flagged = _codes(psession, copy)
    assert set(flagged) == {"TRACK_DUPLICATED"}
    assert flagged["TRACK_DUPLICATED"]["otherWaybillId"] == source
    assert _codes(psession, source) == {}  # the source is not flagged


def test_copy_verified_before_its_source_is_flagged_when_the_source_arrives(psession, ground_truth):
    source, copy = _source_and_copy(psession, ground_truth)
    _verify_live(psession, copy)
    assert _codes(psession, copy) == {}
    _verify_live(psession, source)
    # still the later-reported one: the copy, already indexed, is flagged; the source stays clean
    assert _codes(psession, copy)["TRACK_DUPLICATED"]["otherWaybillId"] == source
    assert _codes(psession, source) == {}


def test_clean_waybill_verified_live_gets_no_cross_waybill_anomaly(psession, ground_truth):
    source, copy = _source_and_copy(psession, ground_truth)
    _verify_live(psession, source)
    clean = clean_waybill_id(psession, ground_truth)
    _verify_live(psession, clean)
    assert _codes(psession, clean) == {}


def test_overlapping_waybill_is_flagged_live(psession, ground_truth):
    overlap = labelled_waybill_id(psession, ground_truth, "TRACK_VEHICLE_OVERLAP")
    _verify_live(psession, overlap)
    assert set(_codes(psession, overlap)) == {"TRACK_VEHICLE_OVERLAP"}


def test_backlog_batch_runs_the_same_rules(psession, ground_truth):
    source, copy = _source_and_copy(psession, ground_truth)
    verification_handlers()[KIND_VERIFY_BATCH](psession, {"waybill_ids": [source, copy]})
    assert _codes(psession, copy)["TRACK_DUPLICATED"]["otherWaybillId"] == source
    assert _codes(psession, source) == {}
