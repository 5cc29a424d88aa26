"""DUPLICATE_WAYBILL on a real PostGIS: near-identical waybills under other numbers (the later one flagged, citing
the earlier) and a number re-used for another transport — each with its clean twin."""

from __future__ import annotations

import copy

from sqlalchemy import select, text

from etl.schemas import samples
from store.models import Anomaly, Operator, Waybill
from supervision.rules.duplicates import check_duplicates
from tests.supervision.test_waybill_rules import _open, _send, _waybill


def test_same_trip_under_another_number_flags_the_later_one(session, operator):
    first = _waybill(session, operator, note="YD20240315000001")
    second = _waybill(session, operator, note="YD20240315000002")
    session.execute(text("UPDATE waybill SET received_at = received_at + interval '1 hour' WHERE id = :i"),
                    {"i": second})
    assert check_duplicates(session, [first, second]) == 1
    assert _open(session, first) == set() and _open(session, second) == {"DUPLICATE_WAYBILL"}
    [a] = session.scalars(select(Anomaly).where(Anomaly.document_key == f"waybill:{second}")).all()
    assert a.evidence["numbers"]["nearIdentical"][0]["waybillId"] == first and "YD20240315000001" in a.reason_zh


def test_same_trip_reported_by_another_platform_is_a_duplicate_too(session, operator):
    first = _waybill(session, operator, note="YD20240315000001")
    rival = Operator(usci="91340100MA2TEST01X", name="另一平台", division_code="340102")
    session.add(rival)
    session.flush()
    second = _waybill(session, rival, note="YD20240315000009")
    session.execute(text("UPDATE waybill SET received_at = received_at + interval '1 hour' WHERE id = :i"),
                    {"i": second})
    check_duplicates(session, [first, second])
    assert _open(session, second) == {"DUPLICATE_WAYBILL"} and _open(session, first) == set()


def test_twenty_minutes_apart_is_another_trip(session, operator):
    first = _waybill(session, operator, note="YD20240315000001")
    second = _waybill(session, operator, note="YD20240315000002", despatchActualDateTime="20240315102000")
    check_duplicates(session, [first, second])
    assert _open(session, first) == _open(session, second) == set()


def test_a_number_re_used_for_another_transport_but_not_a_correction(session, operator):
    wid = _waybill(session, operator)
    corrected = copy.deepcopy(samples.waybill())
    corrected["totalMonetaryAmount"] = "3600.000"                          # a correction: version 2
    _send(session, operator, "WLHY_YD1001", corrected)
    check_duplicates(session, [wid])
    assert _open(session, wid) == set()
    other = copy.deepcopy(samples.waybill())                               # version 3: another truck, another day
    other["vehicleInfo"][0]["vehicleNumber"] = "皖B54321"
    other["despatchActualDateTime"] = "20240401100000"
    other["goodsReceiptDateTime"] = "20240401180000"
    _send(session, operator, "WLHY_YD1001", other)
    assert session.scalar(select(Waybill.version).where(Waybill.id == wid)) == 3
    check_duplicates(session, [wid])
    assert _open(session, wid) == {"DUPLICATE_WAYBILL"}
    [a] = session.scalars(select(Anomaly).where(Anomaly.document_key == f"waybill:{wid}")).all()
    assert a.evidence["numbers"]["reusedNumber"][0]["differs"] == ["vehicles", "despatchDay"]
