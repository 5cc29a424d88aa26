"""The anomaly ledger: record is idempotent per (code, document); resolve closes and re-opens only the given codes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store.anomalies import record, record_many, resolve, resolve_many
from store.models import Anomaly

KEY = {"document_kind": "waybill", "document_key": "waybill:1:1"}
OWN = ("TRACK_MISSING", "TRACK_LOW_COVERAGE")


def _status(session) -> dict[str, tuple[str, bool]]:
    session.expire_all()
    rows = session.scalars(select(Anomaly).where(Anomaly.document_key == KEY["document_key"])).all()
    return {a.code: (a.status, a.resolved_at is not None) for a in rows}


def _record(session, code: str) -> int:
    return record(session, code, operator_id=None, reason_zh="原因", reason_en="reason", **KEY)


def test_record_is_idempotent_and_refuses_unknown_codes(session):
    first = _record(session, "TRACK_MISSING")
    assert _record(session, "TRACK_MISSING") == first
    with pytest.raises(ValueError, match="unknown anomaly code"):
        _record(session, "NOT_A_CODE")


def test_resolve_closes_what_stopped_firing_and_reopens_what_fires_again(session):
    for code in (*OWN, "TRACK_DUPLICATED"):
        _record(session, code)
    resolve(session, codes=OWN, still_firing={"TRACK_LOW_COVERAGE"}, **KEY)
    assert _status(session) == {"TRACK_MISSING": ("resolved", True), "TRACK_LOW_COVERAGE": ("open", False),
                                "TRACK_DUPLICATED": ("open", False)}  # another checker's code: left alone
    resolve(session, codes=OWN, still_firing=set(), **KEY)
    assert _status(session)["TRACK_LOW_COVERAGE"] == ("resolved", True)
    _record(session, "TRACK_MISSING")
    resolve(session, codes=OWN, still_firing=["TRACK_MISSING"], **KEY)
    assert _status(session) == {"TRACK_MISSING": ("open", False), "TRACK_LOW_COVERAGE": ("resolved", True),
                                "TRACK_DUPLICATED": ("open", False)}
    # another document is untouched
    other = record(session, "TRACK_MISSING", operator_id=None, reason_zh="z", reason_en="e",
                   document_kind="waybill", document_key="waybill:2:1")
    resolve(session, codes=OWN, still_firing=set(), **KEY)
    assert session.get(Anomaly, other).status == "open"


def test_record_many_returns_ids_in_order_and_writes_a_repeated_anomaly_in_turn(session):
    first = _record(session, "TRACK_MISSING")
    rows = [dict(code=c, operator_id=None, reason_zh="原因", reason_en=why, **KEY)
            for c, why in (("TRACK_LOW_COVERAGE", "a"), ("TRACK_MISSING", "b"), ("TRACK_LOW_COVERAGE", "c"))]
    ids = record_many(session, rows)
    assert ids[1] == first and ids[0] == ids[2] != first
    session.expire_all()
    assert session.get(Anomaly, ids[0]).reason_en == "c"  # the later one wins, as two record() calls would
    assert record_many(session, []) == []
    with pytest.raises(ValueError, match="unknown anomaly code"):
        record_many(session, [dict(rows[0], code="NOT_A_CODE")])


def test_resolve_many_does_what_resolve_does_per_document(session):
    keys = ["waybill:1:1", "waybill:2:1", "waybill:3:1"]
    for key in keys:
        for code in OWN:
            record(session, code, operator_id=None, reason_zh="z", reason_en="e", document_kind="waybill",
                   document_key=key)
    resolve_many(session, document_kind="waybill", codes=OWN,
                 still_firing={keys[0]: {"TRACK_MISSING"}, keys[1]: set()})
    session.expire_all()
    status = {(a.document_key, a.code): a.status for a in session.scalars(select(Anomaly)).all()}
    assert status == {(keys[0], "TRACK_MISSING"): "open", (keys[0], "TRACK_LOW_COVERAGE"): "resolved",
                      (keys[1], "TRACK_MISSING"): "resolved", (keys[1], "TRACK_LOW_COVERAGE"): "resolved",
                      (keys[2], "TRACK_MISSING"): "open", (keys[2], "TRACK_LOW_COVERAGE"): "open"}  # not given
    resolve_many(session, document_kind="waybill", codes=OWN, still_firing={keys[1]: {"TRACK_LOW_COVERAGE"}})
    session.expire_all()
    assert session.scalars(select(Anomaly.status).where(Anomaly.document_key == keys[1],
                                                        Anomaly.code == "TRACK_LOW_COVERAGE")).one() == "open"
