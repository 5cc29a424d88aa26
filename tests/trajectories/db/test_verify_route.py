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
