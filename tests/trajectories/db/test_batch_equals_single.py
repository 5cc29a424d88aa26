"""A back-fill batch (verify_items over many items, one read and a few writes for all) stores exactly what verifying
the same waybills one by one stores: verdicts, rules, evidence, trajectories and anomalies."""

from __future__ import annotations

from sqlalchemy import select, text

from store.models import Waybill, WaybillVehicle
from trajectories.verification import verify_items, verify_waybill


def _stored(session) -> dict[str, list]:
    """What a user sees of the verifications: current verdicts with rules and evidence, the stored tracks, and the
    anomalies (without the verification id, which differs between any two runs)."""
    q = {
        "verifications": "SELECT waybill_vehicle_id, waybill_id, verdict, rules::text, evidence::text "
                         "FROM verification WHERE current ORDER BY 1",
        "trajectories": "SELECT waybill_vehicle_id, source, ST_AsEWKB(geom), n_fixes, started_at, ended_at, "
                        "length_m, coverage, max_gap_s, max_speed_kmh, h3_path, stats::text FROM trajectory "
                        "ORDER BY 1, 2",
        "anomalies": "SELECT code, document_key, document_id, operator_id, status, severity, reason_zh, reason_en, "
                     "(evidence - 'verificationId')::text FROM anomaly WHERE code LIKE 'TRACK_%' ORDER BY 1, 2",
    }
    return {name: [tuple(r) for r in session.execute(text(sql)).all()] for name, sql in q.items()}


def test_batches_store_the_same_as_one_by_one(psession):
    waybill_ids = psession.scalars(select(Waybill.id).order_by(Waybill.id)).all()
    item_ids = psession.scalars(select(WaybillVehicle.id).order_by(WaybillVehicle.id)).all()

    one_by_one = psession.begin_nested()
    for wid in waybill_ids:
        verify_waybill(psession, wid)
    single = _stored(psession)
    one_by_one.rollback()

    batched = psession.begin_nested()
    results = []
    for k in range(0, len(item_ids), 7):  # uneven batches: items of one vehicle fall in different batches
        results += verify_items(psession, item_ids[k:k + 7])
    batch = _stored(psession)
    batched.rollback()

    assert len(results) == len(item_ids) >= 28
    assert {r.verdict for r in results} >= {"PASS", "NO_DATA"}  # the province has clean and anomalous waybills
    assert batch["anomalies"], "the generated province has anomalies to compare"
    assert batch == single
