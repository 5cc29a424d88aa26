"""Business scale and OD flows equal a hand-computed small case; triggers mark the days a waybill version or a
verification touched and the queued job re-derives them; sandbox waybills never count."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from auth.scope import Scope
from geo import gazetteer
from geo.distance import haversine_m
from store.jobs import KIND_STATISTICS
from store.models import Job, StatDaily
from supervision.statistics import rollup
from supervision.statistics.flows import flows
from supervision.statistics.jobs import statistics_handlers
from supervision.statistics.scale import scale
from tests.supervision.statistics.helpers import DAY, dirty, make_operator, send_waybill, verify_with_length

PROVINCE = Scope(role="province", division_prefix="34")
ADMIN = Scope(role="admin")


def _straight_km(a: str, b: str) -> float:
    pa, pb = gazetteer.get(a), gazetteer.get(b)
    return float(haversine_m(pa.lon, pa.lat, pb.lon, pb.lat)) / 1000.0


def _drain(session) -> None:
    statistics_handlers()[KIND_STATISTICS](session, {})
    session.expire_all()  # the roll-up rewrote the rows behind the ORM's back


@pytest.fixture
def small(session):
    """Operator A: W1 18 t of 1200 昆山→蜀山, not verified (estimated); W2 10 t 1200 + 5 t 0100, same pair, a
    PASS trajectory of 400 km; W3 a sandbox twin of W1 (must never count); operator B: W4 2 t 0100 from 蜀山 to
    庐阳 the next day."""
    a, b = make_operator(session, 1), make_operator(session, 2, division="340103")
    w1 = send_waybill(session, a, "YD1", plate="皖A10001", license_="340104199003070013", amount=3500)
    w2 = send_waybill(session, a, "YD2", plate="皖A10002", license_="340104199003071234",
                      goods=[("1200", 10000.0), ("0100", 5000.0)], amount=1000)
    w3 = send_waybill(session, a, "YD3", plate="皖A10003", amount=9999)
    session.execute(text("UPDATE waybill SET is_sandbox = true WHERE id = :i"), {"i": w3.id})
    verify_with_length(session, w2, 400_000.0)
    w4 = send_waybill(session, b, "YD4", plate="皖A10004", license_="340104199003072222",
                      goods=[("0100", 2000.0)], amount=500, loading="340104", receipt="340103",
                      receipt_at="20240316120000")
    return {"a": a, "b": b, "w1": w1, "w2": w2, "w3": w3, "w4": w4}


def test_triggers_mark_the_days_and_queue_one_job(session, small):
    a, b = small["a"], small["b"]
    assert dirty(session) == {(a.id, DAY), (b.id, DAY + dt.timedelta(days=1))}
    jobs = session.scalars(select(Job).where(Job.kind == KIND_STATISTICS, Job.status == "pending")).all()
    assert [j.key for j in jobs] == ["statistics:dirty"]
    _drain(session)
    assert dirty(session) == set()
    # a correction moving W4's receipt a day later marks both its old and its new day
    session.execute(text("UPDATE waybill SET receipt_at = receipt_at + interval '1 day' WHERE id = :i"),
                    {"i": small["w4"].id})
    assert dirty(session) == {(b.id, DAY + dt.timedelta(days=1)), (b.id, DAY + dt.timedelta(days=2))}


def test_stat_daily_equals_the_hand_computed_case(session, small):
    _drain(session)
    a = small["a"]
    rows = session.scalars(select(StatDaily).where(StatDaily.operator_id == a.id)).all()
    assert len(rows) == 1  # W2's main cargo is 1200 (its heaviest line): one row; W3 (sandbox) not counted
    [r] = rows
    est = 18 * _straight_km("320583", "340104") * rollup.DETOUR_FACTOR
    assert (r.day, r.division_code, r.cargo_type_code) == (DAY, "320583", "1200")
    assert (r.waybills, r.vehicles, r.drivers, r.waybills_estimated) == (2, 2, 2, 1)
    assert float(r.tonnes) == 33.0 and float(r.amount) == 4500.0
    assert float(r.tonne_km) == pytest.approx(est + 15 * 400, abs=0.01)
    assert float(r.tonne_km_estimated) == pytest.approx(est, abs=0.01)


def test_scale_answer_by_month_and_groups(session, small):
    _drain(session)
    est = 18 * _straight_km("320583", "340104") * rollup.DETOUR_FACTOR
    out = scale(session, PROVINCE, first=DAY, last=DAY + dt.timedelta(days=1), by="month")
    [row] = out["rows"]
    assert row["period"] == "2024-03" and row["waybills"] == 3 and row["vehicles"] == 3 and row["drivers"] == 3
    assert row["tonnes"] == 35.0 and row["amount"] == 5000.0
    assert row["tonneKm"] == pytest.approx(est + 6000 + 2 * _straight_km("340104", "340103") * 1.3, abs=0.01)
    assert out["estimated"]["waybills"] == 2 and 0 < out["estimated"]["share"] < 1
    assert out["privacy"] == {"applied": False}
    by_cargo = scale(session, PROVINCE, first=DAY, last=DAY + dt.timedelta(days=1), group=["cargo", "operator"])
    got = {(r["period"], r["cargoTypeCode"], r["operatorId"]): r["waybills"] for r in by_cargo["rows"]}
    assert got == {("2024-03-15", "1200", small["a"].id): 2, ("2024-03-16", "0100", small["b"].id): 1}
    # the same driver on two waybills is one driver: capacity is a distinct count, not a sum
    city = scale(session, PROVINCE, first=DAY, last=DAY + dt.timedelta(days=1), group=["division"],
                 division_level="city")
    assert {r["divisionCode"]: r["waybills"] for r in city["rows"]} == {"320500": 2, "340100": 1}


def test_a_verification_arriving_turns_estimated_tonne_km_into_measured(session, small):
    _drain(session)
    w1 = small["w1"]
    verify_with_length(session, w1, 300_000.0)
    assert dirty(session) == {(small["a"].id, DAY)}
    _drain(session)
    [r] = session.scalars(select(StatDaily).where(StatDaily.operator_id == small["a"].id)).all()
    assert float(r.tonne_km) == pytest.approx(18 * 300 + 15 * 400) and float(r.tonne_km_estimated) == 0
    # a FAIL verdict's track contradicts the waybill: back to the estimate
    session.execute(text("UPDATE verification SET current = false WHERE waybill_id = :i"), {"i": w1.id})
    verify_with_length(session, w1, 300_000.0, verdict="FAIL")
    _drain(session)
    [r] = session.scalars(select(StatDaily).where(StatDaily.operator_id == small["a"].id)).all()
    assert r.waybills_estimated == 1


def test_scope_operator_sees_its_own_and_a_county_its_division(session, small):
    _drain(session)
    a, b = small["a"], small["b"]
    first, last = DAY, DAY + dt.timedelta(days=1)
    own = scale(session, Scope(role="operator", operator_id=b.id), first=first, last=last, group=["operator"])
    assert [r["operatorId"] for r in own["rows"]] == [b.id] and own["totals"]["waybills"] == 1
    other = scale(session, Scope(role="operator", operator_id=b.id), first=first, last=last, operator_id=a.id)
    assert other["rows"] == [] and other["totals"]["waybills"] == 0
    county = scale(session, Scope(role="county", division_prefix="340104"), first=first, last=last)
    assert county["totals"]["waybills"] == 2  # A is registered in 蜀山 (its W1, W2 were loaded in 昆山); B is not
    shushan = scale(session, PROVINCE, first=first, last=last, division="340100")
    assert shushan["totals"]["waybills"] == 1  # loaded in 合肥: W4 only
    nowhere = scale(session, Scope(role="county", division_prefix="-"), first=first, last=last)
    assert nowhere["rows"] == []


def test_flows_add_up_at_every_level(session, small):
    _drain(session)
    first, last = DAY, DAY + dt.timedelta(days=1)
    county = flows(session, ADMIN, level="county", first=first, last=last)
    pairs = {(r["origin"], r["destination"]): (r["waybills"], r["tonnes"]) for r in county["rows"]}
    assert pairs == {("320583", "340104"): (2, 33.0), ("340104", "340103"): (1, 2.0)}
    city = flows(session, ADMIN, level="city", first=first, last=last)
    assert {(r["origin"], r["destination"]) for r in city["rows"]} == {("320500", "340100"), ("340100", "340100")}
    province = flows(session, ADMIN, level="province", first=first, last=last)
    assert {(r["origin"], r["destination"]): r["waybills"] for r in province["rows"]} == {
        ("320000", "340000"): 2, ("340000", "340000"): 1}
    totals = [county["totals"], city["totals"], province["totals"]]
    for res in (5, 6, 7):
        h = flows(session, ADMIN, level="h3", res=res, first=first, last=last)
        assert all(len(r["origin"]) == 15 for r in h["rows"])
        totals.append(h["totals"])
    for t in totals:
        assert t["tonnes"] == 35.0 and t["amount"] == 5000.0 and t["waybills"] == 3
        assert t["tonneKm"] == pytest.approx(totals[0]["tonneKm"])
    assert county["rows"][0]["originName"] == "昆山市" and county["estimated"]["share"] > 0


def test_rebuild_equals_incremental(session, small):
    _drain(session)
    before = scale(session, ADMIN, first=DAY, last=DAY + dt.timedelta(days=1), group=["operator", "cargo"])
    session.execute(text("DELETE FROM stat_daily"))
    counts = rollup.rebuild(session, DAY, DAY + dt.timedelta(days=1), density=False)
    assert counts.days == 2 and counts.waybills == 3
    after = scale(session, ADMIN, first=DAY, last=DAY + dt.timedelta(days=1), group=["operator", "cargo"])
    assert after == before
