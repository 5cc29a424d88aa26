"""The eight indicators, the score and the ranking on a small case computed by hand (spec/RULES.md §3)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from auth.scope import Scope
from store.models import IndicatorValue, Score
from supervision import configuration
from supervision.indicators import Period, compute, explain, parse, ranking, rebuild, recompute_dirty
from tests.supervision.indicators import factory as f

OCT = parse("2026-10")
SYSTEM = Scope.system()
ADMIN = Scope(role="admin", username="root")


@pytest.fixture
def case(session):
    """Operator A with every kind of flaw in October 2026, its twins B/C/D clean, E idle, S sandbox."""
    A = f.operator(session, "甲平台", "340104")
    v1, v2, v3 = f.vehicle(session, "皖A10001", 49), f.vehicle(session, "皖A10002", 4), f.vehicle(
        session, "皖A10003", 10, kind="Q11")  # heavy by mass, light, heavy as a tractor
    d1, d2, d3 = f.driver(session, "340104199001011234"), f.driver(session, "340104199001021234"), f.driver(
        session, "340104199001031234")
    w1 = f.waybill(session, A, f.at("2026-10-03"), v1, d1)
    w2 = f.waybill(session, A, f.at("2026-10-10"), v1, d1)
    w3 = f.waybill(session, A, f.at("2026-10-20"), v2, d2)
    w4 = f.waybill(session, A, f.at("2026-10-31", 23), v3, d3)   # 23:00 Beijing on the 31st: still October
    f.waybill(session, A, f.at("2026-11-01", 0), v3, d3)          # 00:00 Beijing on 1 November: not October
    w5 = f.waybill(session, A, f.at("2026-09-15"), v2, d2)        # September: the previous period
    f.waybill(session, A, f.at("2026-10-12"), v1, d1, sandbox=True)  # sandbox never counts
    f1, _f2 = f.fund_flow(session, A, f.at("2026-10-05")), f.fund_flow(session, A, f.at("2026-10-06"))
    msgs = [f.message(session, A, f.at("2026-10-02")) for _ in range(8)]
    r1, r2 = f.message(session, A, f.at("2026-10-04"), 3005), f.message(session, A, f.at("2026-10-04"), 3005)
    f.message(session, A, f.at("2026-10-04"), 3001, duplicate_of=msgs[0].id)  # a replay: not a new message
    f.message(session, A, f.at("2026-10-04"), 3005, sandbox=True)
    f.anomaly(session, "INTAKE_LATE", w1)
    f.anomaly(session, "MATCH_AMOUNT", w1)
    f.anomaly(session, "MATCH_NO_FUND_FLOW", w2, status="overturned")
    f.anomaly(session, "DUPLICATE_WAYBILL", w2)
    f.anomaly(session, "INTAKE_LATE", f1, kind="fund_flow")
    f.anomaly(session, "INTAKE_REJECTED", r1, kind="message")
    f.anomaly(session, "INTAKE_REJECTED", r2, kind="message", status="overturned")
    f.anomaly(session, "QUAL_VEHICLE_CERT", w1)
    f.anomaly(session, "VEHICLE_NOT_IN_NETWORK", v3, kind="vehicle", operator_id=A.id)
    f.anomaly(session, "QUAL_DRIVER_LICENSE", w4)
    f.anomaly(session, "QUAL_DRIVER_CERT", w3, status="pending_check")  # not decided: does not count
    f.anomaly(session, "INTAKE_LATE", w5, status="resolved")
    f.verification(session, w1, "PASS")
    f.verification(session, w2, "FAIL")
    f.verification(session, w3, "FAIL", current=False)
    f.verification(session, w3, "PASS")
    others = {}
    for name, division, n in (("乙平台", "340104", 2), ("丙平台", "340111", 3), ("丁平台", "340202", 2)):
        op = f.operator(session, name, division)
        v = f.vehicle(session, f"皖B{op.id:05d}", 4)
        d = f.driver(session, f"3401041990020{op.id:05d}")
        for k in range(n):
            f.waybill(session, op, f.at(f"2026-10-{k + 1:02d}"), v, d)
        others[name] = op
    E = f.operator(session, "戊平台", "340104")
    S = f.operator(session, "沙箱平台", "340104", sandbox=True)
    f.waybill(session, S, f.at("2026-10-03"))
    return {"A": A, "B": others["乙平台"], "C": others["丙平台"], "D": others["丁平台"], "E": E, "S": S,
            "w1": w1, "w2": w2, "w3": w3, "w4": w4}


def _counts(session, op_id, period=OCT):
    [r] = [r for r in compute(session, period) if r.operator_id == op_id]
    return r


def test_each_indicator_equals_the_hand_computed_value(session, case):
    a = _counts(session, case["A"].id)
    assert a.waybills == 4
    assert a.counts == {
        "upload_timeliness": (4, 6),       # 4 waybills + 2 fund flows; w1 and f1 late
        "intake_quality": (9, 10),         # 10 messages, 2 rejected, one rejection overturned
        "fund_matching": (3, 4),           # w1 MATCH_AMOUNT; w2's MATCH_NO_FUND_FLOW overturned
        "vehicle_qualification": (2, 3),   # v1 has QUAL_VEHICLE_CERT on w1
        "driver_qualification": (2, 3),    # d3 QUAL_DRIVER_LICENSE; d2's is pending_check
        "vehicle_in_network": (1, 2),      # heavy: v1 (49 t), v3 (tractor); v3 not in network
        "trajectory_compliance": (2, 3),   # w1, w3 PASS (current), w2 FAIL, w4 not verified
        "uniqueness": (3, 4),              # w2 DUPLICATE_WAYBILL
    }
    assert a.value("intake_quality") == 90.0
    ids = {r.operator_id for r in compute(session, OCT)}
    assert case["S"].id not in ids and case["E"].id in ids


def test_no_denominator_is_not_applicable_not_100(session, case):
    b = _counts(session, case["B"].id)
    assert b.value("intake_quality") is None and b.value("vehicle_in_network") is None
    assert b.value("trajectory_compliance") is None and b.value("uniqueness") == 100.0
    e = _counts(session, case["E"].id)
    assert all(e.value(i) is None for i in configuration.INDICATORS)


def test_ranking_scores_ties_and_change_versus_the_previous_month(session, case):
    r = ranking(session, SYSTEM, OCT.first, OCT.last)
    rows = {x.operator_id: x for x in r.rows}
    a, b, c, d, e = (rows[case[k].id] for k in "ABCDE")
    # (66.67·15 + 90·10 + 75·20 + 66.67·10 + 66.67·10 + 50·10 + 66.67·20 + 75·5) / 100
    assert a.score == 69.42 and a.skipped == []
    assert b.score == c.score == d.score == 100.0
    assert b.skipped == ["intake_quality", "vehicle_in_network", "trajectory_compliance"]
    # ties on score: more waybills first (C has 3); B and D tie on both and share the rank
    assert (c.rank, b.rank, d.rank, a.rank) == (1, 2, 2, 4)
    assert e.score is None and e.rank is None and r.rows[-1].operator_id == e.operator_id
    assert case["S"].id not in rows
    # September: only A worked (w5, its late upload resolved): 100, rank 1 → October rank 4
    assert (a.previous_rank, a.rank_change, a.score_change) == (1, -3, -30.58)
    assert b.previous_rank is None and b.rank_change is None
    assert r.config_version == 0 and all(x.config_version == 0 for x in r.rows)
    stored = session.execute(select(Score).where(Score.operator_id == case["A"].id,
                                                 Score.period_start == OCT.first)).scalar_one()
    assert (stored.score, stored.rank, stored.rank_change, stored.config_version) == (69.42, 4, -3, 0)
    iv = session.execute(select(IndicatorValue).where(IndicatorValue.operator_id == case["B"].id,
                                                      IndicatorValue.period_start == OCT.first,
                                                      IndicatorValue.indicator == "intake_quality")).scalar_one()
    assert iv.value is None and iv.denominator is None


def test_quarter_and_any_range(session, case):
    q4 = parse("2026Q4")
    q = ranking(session, SYSTEM, q4.first, q4.last)
    a = next(x for x in q.rows if x.operator_id == case["A"].id)
    assert a.waybills == 5 and q.previous.label == "2026Q3"  # October's 4 and 1 November
    week = ranking(session, SYSTEM, dt.date(2026, 10, 1), dt.date(2026, 10, 7))
    a = next(x for x in week.rows if x.operator_id == case["A"].id)
    assert a.waybills == 1 and week.previous == Period(dt.date(2026, 9, 24), dt.date(2026, 9, 30))


def test_a_config_change_is_cited_and_changes_the_score(session, case):
    ranking(session, SYSTEM, OCT.first, OCT.last)
    weights = {i: 0 for i in configuration.INDICATORS} | {"intake_quality": 1}
    cfg = configuration.update(session, {"indicator_weights": weights}, scope=ADMIN)
    r = ranking(session, SYSTEM, OCT.first, OCT.last)
    a = next(x for x in r.rows if x.operator_id == case["A"].id)
    b = next(x for x in r.rows if x.operator_id == case["B"].id)
    assert r.config_version == cfg.version == a.config_version == 1
    assert a.score == 90.0 and b.score is None and b.rank is None  # B has no messages: nothing to score


def test_an_overturned_anomaly_is_recomputed_incrementally(session, case):
    before = next(x for x in ranking(session, SYSTEM, OCT.first, OCT.last).rows if x.operator_id == case["A"].id)
    session.execute(text("DELETE FROM rank_dirty"))
    session.execute(text("UPDATE anomaly SET status = 'overturned' WHERE code = 'MATCH_AMOUNT' "
                         "AND document_id = :w"), {"w": case["w1"].id})
    marks = session.execute(text("SELECT operator_id, day FROM rank_dirty")).all()
    assert [(m.operator_id, m.day) for m in marks] == [(case["A"].id, dt.date(2026, 10, 3))]
    assert session.execute(text("SELECT count(*) FROM job WHERE kind = 'ranking' AND status = 'pending'")).scalar()
    done = recompute_dirty(session)
    assert {"period": "2026-10", "operators": [case["A"].id]} in done["periods"]
    assert session.execute(text("SELECT count(*) FROM rank_dirty")).scalar() == 0
    after = next(x for x in ranking(session, SYSTEM, OCT.first, OCT.last).rows if x.operator_id == case["A"].id)
    assert after.indicators["fund_matching"] == {"value": 100.0, "good": 4, "total": 4}
    assert after.score == round(before.score + (100 - 75) * 20 / 100, 2)


def test_a_stale_period_is_recomputed_when_asked_for(session, case):
    ranking(session, SYSTEM, OCT.first, OCT.last)
    f.anomaly(session, "DUPLICATE_WAYBILL", case["w3"])  # marks A × 20 October, no job run
    a = next(x for x in ranking(session, SYSTEM, OCT.first, OCT.last).rows if x.operator_id == case["A"].id)
    assert a.indicators["uniqueness"]["good"] == 2


def test_rebuild_re_derives_months_and_quarters(session, case):
    out = rebuild(session, dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert "2026-10" in out["periods"] and "2026Q4" in out["periods"]
    n = session.execute(text("SELECT count(*) FROM score WHERE period_start = '2026-10-01' "
                             "AND period_end = '2026-10-31'")).scalar()
    assert n == 5  # A–E; not the sandbox operator


def test_explain_lists_the_documents_that_lowered_each_indicator(session, case):
    A = case["A"].id
    fm = explain(session, SYSTEM, A, "fund_matching", OCT)
    assert fm["total"] == 1 and fm["items"][0]["documentId"] == case["w1"].id
    assert [x["code"] for x in fm["items"][0]["anomalies"]] == ["MATCH_AMOUNT"]
    for ind, expected in (("upload_timeliness", 2), ("intake_quality", 1), ("vehicle_qualification", 1),
                          ("driver_qualification", 1), ("vehicle_in_network", 1), ("trajectory_compliance", 1),
                          ("uniqueness", 1)):
        c = _counts(session, A).counts[ind]
        got = explain(session, SYSTEM, A, ind, OCT)
        assert got["total"] == expected == c[1] - c[0], ind
    drv = explain(session, SYSTEM, A, "driver_qualification", OCT)["items"][0]
    assert drv["label"] == "3401**********1234"  # ID numbers masked
    paged = explain(session, SYSTEM, A, "upload_timeliness", OCT, limit=1, offset=1)
    assert paged["total"] == 2 and len(paged["items"]) == 1


def test_scope_county_ranks_its_own_operator_sees_its_row(session, case):
    county = Scope(role="county", username="c", division_prefix="340104")
    r = ranking(session, county, OCT.first, OCT.last)
    rows = {x.operator_id: x for x in r.rows}
    assert set(rows) == {case["A"].id, case["B"].id, case["E"].id}
    assert (rows[case["B"].id].rank, rows[case["A"].id].rank) == (1, 2)  # among the county's operators
    assert (rows[case["B"].id].province_rank, rows[case["A"].id].province_rank) == (2, 4)
    mine = ranking(session, Scope(role="operator", username="o", operator_id=case["A"].id), OCT.first, OCT.last)
    assert [(x.operator_id, x.rank) for x in mine.rows] == [(case["A"].id, 4)]
    analyst = Scope(role="analyst", username="an", aggregates_only=True)
    assert len(ranking(session, analyst, OCT.first, OCT.last).rows) == 5
    from core.errors import ForbiddenError, NotFoundError
    with pytest.raises(ForbiddenError):
        explain(session, analyst, case["A"].id, "uniqueness", OCT)
    with pytest.raises(NotFoundError):
        explain(session, Scope(role="county", username="c2", division_prefix="340202"), case["A"].id,
                "uniqueness", OCT)
    with pytest.raises(NotFoundError):
        explain(session, Scope(role="operator", username="o", operator_id=case["B"].id), case["A"].id,
                "uniqueness", OCT)


def test_the_ranking_job_keeps_a_mark_made_while_it_ran(session, case, monkeypatch):
    import importlib

    from store.jobs import KIND_RANKING
    from supervision.indicators.jobs import ranking_handlers

    module = importlib.import_module("supervision.indicators.ranking")  # the package exports the function

    ranking(session, SYSTEM, OCT.first, OCT.last)
    session.execute(text("DELETE FROM rank_dirty"))
    f.anomaly(session, "DUPLICATE_WAYBILL", case["w3"])  # A × 20 October marked
    original = module.refresh

    def refresh_while_a_late_document_arrives(*args, **kw):
        out = original(*args, **kw)
        # another transaction's write, committed while the job ran (its mark is a row of its own)
        session.execute(text("INSERT INTO rank_dirty (operator_id, day, tx) VALUES (:o, '2026-10-21', 1)"),
                        {"o": case["A"].id})
        return out

    monkeypatch.setattr(module, "refresh", refresh_while_a_late_document_arrives)
    done = ranking_handlers()[KIND_RANKING](session, {})
    assert done["marks"] == 1 and done["periods"][0]["operators"] == [case["A"].id]
    assert session.execute(text("SELECT count(*) FROM rank_dirty")).scalar() == 1  # kept for the next run
    monkeypatch.setattr(module, "refresh", original)
    ranking_handlers()[KIND_RANKING](session, {})
    assert session.execute(text("SELECT count(*) FROM rank_dirty")).scalar() == 0


def test_sandbox_documents_mark_nothing(session, case):
    session.execute(text("DELETE FROM rank_dirty"))
    f.waybill(session, case["A"], f.at("2026-10-15"), sandbox=True)
    assert session.execute(text("SELECT count(*) FROM rank_dirty")).scalar() == 0
    f.waybill(session, case["A"], f.at("2026-10-15"))
    assert session.execute(text("SELECT day FROM rank_dirty")).scalar() == dt.date(2026, 10, 15)
    f.waybill(session, case["A"], f.at("2026-10-15", 18))
    assert session.execute(text("SELECT count(*) FROM rank_dirty")).scalar() == 1  # one mark per day per transaction


def test_a_waybill_anomaly_listing_its_vehicles_concerns_only_those(session, case):
    A = case["A"]
    v9, v10 = f.vehicle(session, "皖A10009", 4), f.vehicle(session, "皖A10010", 4)
    w = f.waybill(session, A, f.at("2026-10-22"), v9)
    before = _counts(session, A.id).counts["vehicle_qualification"]
    # qualifications.py lists the vehicles concerned: here another vehicle (shared row v10), not this waybill's v9
    f.anomaly(session, "QUAL_VEHICLE_CERT", w,
              evidence={"documents": [{"kind": "vehicle", "id": v10.id, "key": f"vehicle:{v10.id}", "sharedRow": True}]})
    assert _counts(session, A.id).counts["vehicle_qualification"] == before  # v9 (on w) still qualified
    f.anomaly(session, "QUAL_VEHICLE_CERT", w, key=f"waybill:{w.id}:1",  # item 1, listing v9
              evidence={"documents": [{"kind": "vehicle", "id": v9.id, "key": f"vehicle:{v9.id}", "sharedRow": True}]})
    assert _counts(session, A.id).counts["vehicle_qualification"] == (before[0] - 1, before[1])
