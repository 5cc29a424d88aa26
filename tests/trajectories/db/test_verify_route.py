"""``POST /api/v1/waybills/{id}/verify`` runs every rule the worker runs, the cross-waybill ones too: a copied track
re-verified through the route is flagged TRACK_DUPLICATED and cites its source; the source is not flagged."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import Anomaly, Waybill
from tests.trajectories.db.conftest import labelled_waybill_id
from tests.trajectories.db.test_api import _token, api_db, live  # noqa: F401 - fixtures


def test_verify_route_runs_the_cross_waybill_checks_and_cites_the_copys_source(live, api_db, ground_truth):  # noqa: F811
    _, eng, _ = api_db
    with Session(eng) as s:
        copy = labelled_waybill_id(s, ground_truth, "TRACK_DUPLICATED")
        note = next(g for g in ground_truth if g["code"] == "TRACK_DUPLICATED")["detail"]["copiedFrom"]
        source = s.scalar(select(Waybill.id).where(Waybill.shipping_note_number == note["shippingNoteNumber"]))
    admin = _token(live, eng, "admin")
    first = live.post(f"/api/v1/waybills/{source}/verify", headers=admin)
    assert first.status_code == 200, first.text
    assert [c["code"] for c in first.json()["crossChecks"]] == []  # the source is never the copy
    r = live.post(f"/api/v1/waybills/{copy}/verify", headers=admin)
    assert r.status_code == 200, r.text
    [dup] = [c for c in r.json()["crossChecks"] if c["code"] == "TRACK_DUPLICATED"]
    assert dup["otherWaybillId"] == source and str(source) in dup["reasonEn"]
    with Session(eng) as s:  # recorded as the worker records it, citing the source
        evidence = s.scalars(select(Anomaly.evidence).where(Anomaly.document_id == copy,
                                                            Anomaly.code == "TRACK_DUPLICATED")).one()
        assert evidence["otherWaybillId"] == source
        assert s.scalar(select(func.count()).select_from(Anomaly).where(
            Anomaly.document_id == source, Anomaly.code == "TRACK_DUPLICATED")) == 0


def test_trajectory_thresholds_come_from_the_configuration(live, api_db, ground_truth):  # noqa: F811
    """An admin raises the coverage threshold through PUT /api/v1/config; the next re-verification judges with it
    (the rule's numbers cite it, and it fires exactly when the coverage is below it), as the worker's jobs do."""
    from store.models import Verification
    from supervision import configuration
    from tests.trajectories.db.conftest import clean_waybill_id

    _, eng, _ = api_db
    with Session(eng) as s:
        wid = clean_waybill_id(s, ground_truth)
    admin = _token(live, eng, "admin")

    def coverage_rule() -> dict:
        r = live.post(f"/api/v1/waybills/{wid}/verify", headers=admin)
        assert r.status_code == 200, r.text
        with Session(eng) as s:
            rules = s.get(Verification, r.json()["items"][0]["verificationId"]).rules
        return next(x for x in rules if x["code"] == "TRACK_LOW_COVERAGE")

    assert coverage_rule()["numbers"]["min_coverage"] == 0.8
    bad = live.put("/api/v1/config", headers=admin, json={"changes": {"trajectory_thresholds": {"min_coverage": 2}}})
    assert bad.status_code == 422 and "min_coverage" in bad.text
    ok = live.put("/api/v1/config", headers=admin, json={"changes": {"trajectory_thresholds": {"min_coverage": 0.999}}})
    assert ok.status_code == 200, ok.text
    try:
        rule = coverage_rule()
        assert rule["numbers"]["min_coverage"] == 0.999
        assert rule["fired"] == (rule["numbers"]["coverage"] < 0.999)
        with Session(eng) as s:  # the worker's jobs read the same thresholds per job
            assert configuration.trajectory_thresholds_now(s).min_coverage == 0.999
    finally:
        live.put("/api/v1/config", headers=admin, json={"changes": {"trajectory_thresholds": {"min_coverage": 0.8}}})
    assert coverage_rule()["numbers"]["min_coverage"] == 0.8


def test_the_worker_handlers_verify_with_the_thresholds_they_are_given(api_db, ground_truth):  # noqa: F811
    from store.models import Verification
    from tests.trajectories.db.conftest import clean_waybill_id
    from trajectories.jobs import KIND_VERIFY_WAYBILL, verification_handlers
    from trajectories.verify import Thresholds

    _, eng, _ = api_db
    handler = verification_handlers(thresholds=lambda s: Thresholds(min_coverage=0.5))[KIND_VERIFY_WAYBILL]
    with Session(eng) as s:
        wid = clean_waybill_id(s, ground_truth)
        [result] = handler(s, {"waybill_id": wid})[:1]
        s.commit()
        rules = s.get(Verification, result.verification_id).rules
    assert next(x for x in rules if x["code"] == "TRACK_LOW_COVERAGE")["numbers"]["min_coverage"] == 0.5
