"""The k-floor for analysts: scale, flows and density never publish a figure resting on fewer than k distinct
vehicles or operators; suppressed rows are merged into one remainder when that passes, else dropped; the same
figures stay whole for regulators; k comes from the configuration."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from auth.scope import Scope
from store.jobs import KIND_STATISTICS
from supervision.statistics.density import density_geojson, rollup_density
from supervision.statistics.flows import flows
from supervision.statistics.jobs import statistics_handlers
from supervision.statistics.privacy import REMAINDER_LABEL
from supervision.statistics.scale import scale
from tests.supervision.statistics.helpers import DAY, make_operator, send_waybill

ANALYST = Scope(role="analyst", aggregates_only=True)
PROVINCE = Scope(role="province", division_prefix="34")


def _drain(session) -> None:
    statistics_handlers()[KIND_STATISTICS](session, {})


def _five_operators(session) -> list:
    """Five operators, one vehicle and one waybill each, all 昆山 → 蜀山; a sixth operator's lone waybill to 庐阳."""
    ops = [make_operator(session, n) for n in range(1, 7)]
    for n, op in enumerate(ops[:5], start=1):
        send_waybill(session, op, f"YD{n}", plate=f"皖A2000{n}", license_=f"34010419900307{n:03d}1"[:18],
                     amount=1000)
    send_waybill(session, ops[5], "YD6", plate="皖A20006", receipt="340103", amount=777)
    _drain(session)
    return ops


def test_a_lone_operator_is_suppressed_for_analysts_and_whole_for_regulators(session):
    op = make_operator(session, 1)
    send_waybill(session, op, "YD1", plate="皖A30001")
    send_waybill(session, op, "YD2", plate="皖A30002")
    _drain(session)
    analyst = scale(session, ANALYST, first=DAY, last=DAY)
    assert analyst["rows"] == [] and analyst["totals"]["waybills"] == 0
    assert analyst["privacy"]["applied"] and analyst["privacy"]["k"] == 5
    assert analyst["privacy"]["suppressed"] == 1 and analyst["privacy"]["method"] == "dropped"
    regulator = scale(session, PROVINCE, first=DAY, last=DAY)
    assert regulator["rows"][0]["waybills"] == 2 and regulator["privacy"] == {"applied": False}
    for level in ("province", "city", "county", "h3"):
        f = flows(session, ANALYST, level=level, first=DAY, last=DAY)
        assert f["rows"] == [] and f["privacy"]["suppressed"] == 1, level
        assert flows(session, PROVINCE, level=level, first=DAY, last=DAY)["rows"], level


def test_per_operator_rows_are_merged_into_one_remainder_that_passes(session):
    ops = _five_operators(session)
    per_op = scale(session, ANALYST, first=DAY, last=DAY, group=["operator"])
    [merged] = per_op["rows"]  # every row rests on one operator: all six suppressed, their sum passes
    assert merged["period"] == REMAINDER_LABEL and merged["operatorId"] is None
    assert merged["waybills"] == 6 and merged["vehicles"] == 6 and merged["suppressedRows"] == 6
    assert per_op["privacy"]["suppressed"] == 6 and per_op["privacy"]["method"] == "merged"
    assert per_op["totals"]["waybills"] == 6
    whole = scale(session, ANALYST, first=DAY, last=DAY)
    assert whole["rows"][0]["waybills"] == 6 and whole["privacy"]["suppressed"] == 0
    # flows: 昆山 → 蜀山 rests on five operators and vehicles (published); → 庐阳 on one (suppressed, and the
    # remainder of that one pair fails too: dropped, so the totals cannot be differenced)
    f = flows(session, ANALYST, level="county", first=DAY, last=DAY)
    assert [(r["origin"], r["destination"], r["waybills"]) for r in f["rows"]] == [("320583", "340104", 5)]
    assert f["privacy"]["suppressed"] == 1 and f["totals"]["waybills"] == 5
    assert {r["destination"] for r in flows(session, PROVINCE, level="county", first=DAY, last=DAY)["rows"]} == {
        "340104", "340103"}
    assert ops  # the regulator sees both pairs


def test_k_comes_from_the_configuration(session):
    from supervision import configuration

    _five_operators(session)
    configuration.update(session, {"k_anonymity": 7}, scope=Scope(role="admin", username="root"))
    out = scale(session, ANALYST, first=DAY, last=DAY)
    assert out["privacy"]["k"] == 7 and out["rows"] == []  # six operators < 7


def _density_row(session, h3: int, day: dt.date, vehicles: int, keys: list[int] | None, fixes: int = 10):
    session.execute(text("INSERT INTO density_daily (day, res, source, h3, fixes, vehicles, vehicle_keys) "
                         "VALUES (:d, 7, 1, :h, :f, :v, :k)"),
                    {"d": day, "h": h3, "f": fixes, "v": vehicles, "k": keys})


def test_density_floor_counts_distinct_vehicles_over_the_days(session):
    import h3

    lone, five, three, many = (h3.str_to_int(h3.latlng_to_cell(31.8, 117.2 + i * 0.2, 7)) for i in range(4))
    d1, d2 = dt.date(2030, 1, 1), dt.date(2030, 1, 2)
    _density_row(session, lone, d1, 1, [11])
    _density_row(session, lone, d2, 1, [11])
    _density_row(session, five, d1, 3, [1, 2, 3])
    _density_row(session, five, d2, 3, [3, 4, 5])
    _density_row(session, three, d1, 3, [1, 2, 3])  # six vehicle-days, but three distinct vehicles
    _density_row(session, three, d2, 3, [1, 2, 3])
    _density_row(session, many, d1, 80, None)  # ≥ 50 vehicles in one day: passes by itself
    bbox = (110.0, 25.0, 125.0, 35.0)
    out = density_geojson(session, bbox, scope=ANALYST, res=7, date_from=d1, date_to=d2)
    shown = {h3.str_to_int(f["properties"]["h3"]) for f in out["features"]}
    assert shown == {five, many}
    assert out["privacy"]["suppressed"] == 2 and out["totalFixes"] == 30
    regulator = density_geojson(session, bbox, scope=PROVINCE, res=7, date_from=d1, date_to=d2)
    assert len(regulator["features"]) == 4 and regulator["privacy"] == {"applied": False}
    one_day = density_geojson(session, bbox, scope=ANALYST, res=7, date_from=d1, date_to=d1)
    assert {h3.str_to_int(f["properties"]["h3"]) for f in one_day["features"]} == {many}


def test_rollup_density_keeps_vehicle_keys_of_small_cells(session):
    session.execute(text("SELECT wlhy_ensure_position_partition(:d)"), {"d": DAY})
    import h3

    cell = h3.str_to_int(h3.latlng_to_cell(31.8, 117.2, 9))
    for i, plate in enumerate(["皖A1", "皖A2", "皖A1"]):
        session.execute(text(
            "INSERT INTO position (t, vehicle_number, plate_color, source, geom, h3, operator_id) VALUES "
            "(:t, :p, '2', 2, ST_SetSRID(ST_MakePoint(117.2, 31.8), 4326), :h, 0)"),
            {"t": dt.datetime(2024, 3, 15, 4, i, tzinfo=dt.UTC), "p": plate, "h": cell})
    assert rollup_density(session, DAY, resolutions=(7, 9)) == 2
    rows = session.execute(text("SELECT res, fixes, vehicles, cardinality(vehicle_keys) AS k FROM density_daily "
                                "WHERE day = :d ORDER BY res"), {"d": DAY}).all()
    assert [(r.res, r.fixes, r.vehicles, r.k) for r in rows] == [(7, 3, 2, 2), (9, 3, 2, 2)]
