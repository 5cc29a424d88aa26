"""Latency of the query API (B1–B3) on a demo-sized database: p50 / p95 of the main list routes and of the waybill
detail under 50 concurrent clients, through real HTTP against uvicorn with 2 workers, for a province, a county and
an operator user, with the row counts behind each figure. Goal (issue #10 item 6): p95 < 50 ms.

The database is a throwaway PostGIS cluster filled by **direct bulk inserts** (not the /exchange feed, which takes
~15 min): the rows the demo's loader writes for ``--operators`` platforms in eight counties of 340000, ``--vehicles``
vehicles and as many drivers (reports and versions included), ``--waybills`` waybills over 30 days (vehicle,
driver, goods, places, a current verdict each), a fund flow with a payment for 95 % of them, and the anomalies the
rules would raise on them (no fund flow, late intake, track, qualification, duplicates: about 0.5 per waybill).
``--url`` benches an existing database instead (e.g. ``wlhy db url`` after ``make demo``; three bench users are
added to it).

Clients are closed loops on ``httpx.AsyncClient``: send, read the whole answer, think ``--think`` seconds (default
1 s, a person reading the page), repeat. ``--think 0`` saturates the server instead: latency is then bounded by
clients / throughput (Little's law), whatever the queries cost.

    .venv/bin/python bench/queries.py [--quick] [--waybills 20000] [--clients 50] [--think 1] [--explain]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import _http
from sqlalchemy import create_engine, text

GOAL_MS = 50.0
COUNTIES = ["340104", "340102", "340111", "340181", "340202", "340302", "340403", "341502"]

# Every statement sees :ops, :n (vehicles and drivers), :w (waybills). Fresh database: ids run 1..count in
# insertion order, which the later statements use to join without lookups.
_FILL = [
    """INSERT INTO operator (usci, name, division_code, permit_number, contact_person, telephone, address)
       SELECT '91340' || lpad(i::text, 13, '0'), '安徽网络货运平台' || i || '有限公司', (CAST(:counties AS text[]))[1 + (i - 1) % 8],
              '皖交运管许可' || i, '联系人' || i, '1395510' || lpad(i::text, 4, '0'), '合肥市' || i || '号'
       FROM generate_series(1, :ops) i""",
    """INSERT INTO vehicle (vehicle_number, plate_color, operator_id, gross_mass_t, vehicle_type, content_sha256,
                           version)
       SELECT '皖A' || lpad(i::text, 5, '0'), '2', 1 + i % :ops, CASE WHEN i % 3 = 0 THEN 49 ELSE 4.4 END,
              CASE WHEN i % 7 = 0 THEN 'Q11' ELSE 'H01' END, md5(i::text) || md5(i::text), 1 + i % 2
       FROM generate_series(1, :n) i""",
    """INSERT INTO vehicle_report (vehicle_id, operator_id, vehicle_number, plate_color, gross_mass_t, vehicle_type,
                                  content_sha256, version)
       SELECT id, operator_id, vehicle_number, plate_color, gross_mass_t, vehicle_type, content_sha256, version
       FROM vehicle UNION ALL
       SELECT id, 1 + operator_id % :ops, vehicle_number, plate_color, 4.4, 'H01', repeat('1', 64), 1
       FROM vehicle WHERE id % 5 = 0""",
    """INSERT INTO driver (driving_license, name, operator_id, telephone, content_sha256, version)
       SELECT '3401041990' || lpad(i::text, 8, '0'), '司机' || i, 1 + i % :ops, '139' || lpad(i::text, 8, '0'),
              md5(i::text) || md5(i::text), 1 + i % 2
       FROM generate_series(1, :n) i""",
    """INSERT INTO driver_report (driver_id, operator_id, driving_license, name, telephone, content_sha256, version)
       SELECT id, operator_id, driving_license, name, telephone, content_sha256, version FROM driver UNION ALL
       SELECT id, 1 + operator_id % :ops, driving_license, name, telephone, repeat('1', 64), 1
       FROM driver WHERE id % 5 = 0""",
    """INSERT INTO document_version (kind, document_id, version, operator_id, content_sha256, payload, superseded_at)
       SELECT 'vehicle', r.id, v, r.operator_id, repeat('0', 64),
              jsonb_build_object('vehicleNumber', r.vehicle_number, 'grossMass', r.gross_mass_t),
              CASE WHEN v < r.version THEN now() END
       FROM vehicle_report r, generate_series(1, r.version) v UNION ALL
       SELECT 'driver', r.id, v, r.operator_id, repeat('0', 64),
              jsonb_build_object('drivingLicense', r.driving_license, 'telephone', r.telephone),
              CASE WHEN v < r.version THEN now() END
       FROM driver_report r, generate_series(1, r.version) v""",
    # Waybill i: vehicle 1 + (i * 31) % n of the vehicle's own platform, despatched over the last 30 days.
    """INSERT INTO waybill (operator_id, shipping_note_number, serial_number, original_document_number,
         vehicle_amount, transport_type_code, business_type_code, carrier, usci, permit_number, send_to_pro_at,
         consignment_at, despatch_at, receipt_at, total_amount, consignor, consignor_id, loading_place,
         loading_division_code, consignee, receipt_place, receipt_division_code, actual_carrier_name,
         actual_carrier_license, actual_carrier_id, policy_number, insurance_company_code, total_weight_kg,
         content_sha256, version, received_at)
       SELECT v.operator_id, 'YD' || to_char(t.d, 'YYYYMMDD') || lpad(g.i::text, 8, '0'), '0000', 'HT' || g.i, 1,
              '1', '1002996', o.name, o.usci, o.permit_number, t.d + interval '3 hours', t.d - interval '2 hours', t.d,
              t.d + (2 + g.i % 10) * interval '1 hour', 1000 + g.i % 5000, '货主' || g.i % 500, '91340100MA0000000X',
              '装货地' || g.i % 97, (CAST(:counties AS text[]))[1 + g.i % 8], '收货人' || g.i % 700, '卸货地' || g.i % 89,
              (CAST(:counties AS text[]))[1 + (g.i * 7) % 8], '承运人' || v.id, '3401' || lpad(v.id::text, 8, '0'),
              '34010419800101' || lpad((v.id % 10000)::text, 4, '0'), 'PICC' || g.i, 'PICC', 10000 + g.i % 20000,
              md5(g.i::text) || md5(g.i::text), 1 + (g.i % 17 = 0)::int, t.d + interval '3 hours'
       FROM generate_series(1, :w) g(i)
       JOIN vehicle v ON v.id = 1 + (g.i * 31) % :n
       JOIN operator o ON o.id = v.operator_id
       CROSS JOIN LATERAL (SELECT now() - interval '30 days' * (:w - g.i) / :w AS d) t""",
    """INSERT INTO waybill_vehicle (waybill_id, seq, vehicle_number, plate_color, vehicle_id, despatch_at, receipt_at,
         loading_place, loading_division_code, receipt_place, receipt_division_code, loading_geom, receipt_geom,
         places_from_coordinates, weight_kg)
       SELECT w.id, 0, v.vehicle_number, '2', v.id, w.despatch_at, w.receipt_at, w.loading_place,
              w.loading_division_code, w.receipt_place, w.receipt_division_code,
              ST_SetSRID(ST_MakePoint(117 + (w.id % 97) / 50.0, 31 + (w.id % 89) / 50.0), 4326),
              ST_SetSRID(ST_MakePoint(118 - (w.id % 83) / 50.0, 32 - (w.id % 79) / 50.0), 4326),
              w.id % 3 = 0, w.total_weight_kg
       FROM waybill w JOIN vehicle v ON v.id = 1 + (w.id * 31) % :n""",
    """INSERT INTO waybill_driver (waybill_vehicle_id, driver_name, driving_license, driver_id)
       SELECT wv.id, d.name, d.driving_license, d.id FROM waybill_vehicle wv JOIN driver d ON d.id = wv.vehicle_id""",
    """INSERT INTO waybill_goods (waybill_vehicle_id, description, cargo_type_code, weight_kg, cube_m3, packages)
       SELECT wv.id, (ARRAY['钢材','水泥','煤炭','粮食','日用百货'])[1 + wv.id % 5], '0' || (100 + wv.id % 9),
              wv.weight_kg, 30, 1 + wv.id % 40
       FROM waybill_vehicle wv""",
    """INSERT INTO verification (waybill_id, waybill_vehicle_id, verdict, rules, evidence, current)
       SELECT wv.waybill_id, wv.id, CASE WHEN wv.id % 7 = 0 THEN 'SUSPECT' WHEN wv.id % 23 = 0 THEN 'FAIL'
                                         ELSE 'PASS' END,
              jsonb_build_array(jsonb_build_object('code', 'TRACK_MISSING', 'fired', false),
                                jsonb_build_object('code', 'TRACK_START_MISMATCH', 'fired', wv.id % 7 = 0),
                                jsonb_build_object('code', 'TRACK_LOW_COVERAGE', 'fired', wv.id % 23 = 0)),
              '{"type": "FeatureCollection", "features": []}'::jsonb, true
       FROM waybill_vehicle wv""",
    # A fund flow for every waybill but each 20th (those get MATCH_NO_FUND_FLOW below).
    """INSERT INTO fund_flow (operator_id, document_number, send_to_pro_at, carrier, actual_carrier_id,
         vehicle_number, plate_color, total_paid, last_paid_at, content_sha256, version, received_at)
       SELECT w.operator_id, 'ZJ' || w.id, w.receipt_at + interval '1 day', w.actual_carrier_name,
              w.actual_carrier_id, wv.vehicle_number, '2', w.total_amount, w.receipt_at + interval '20 hours',
              w.content_sha256, 1, w.receipt_at + interval '1 day'
       FROM waybill w JOIN waybill_vehicle wv ON wv.waybill_id = w.id WHERE w.id % 20 <> 0""",
    """INSERT INTO fund_flow_waybill (fund_flow_id, shipping_note_number, serial_number, total_amount, waybill_id)
       SELECT f.id, w.shipping_note_number, w.serial_number, w.total_amount, w.id
       FROM fund_flow f JOIN waybill w ON 'ZJ' || w.id = f.document_number""",
    """INSERT INTO fund_flow_payment (fund_flow_id, seq, payment_means_code, recipient, receipt_account, bank_code,
         sequence_code, amount, paid_at)
       SELECT f.id, 0, '32', f.carrier, '62220213' || lpad(f.id::text, 11, '0'), '102', 'LS' || f.id,
              f.total_paid, f.last_paid_at
       FROM fund_flow f""",
    # The anomalies the rules would raise; reasons as store.anomalies words them, roughly.
    """INSERT INTO anomaly (code, group_code, severity, operator_id, document_kind, document_id, document_key,
         detected_at, status, reason_zh, reason_en, evidence, resolved_at)
       SELECT a.code, split_part(a.code, '_', 1), a.severity, w.operator_id, 'waybill', w.id,
              w.operator_id || ':' || w.shipping_note_number || ':' || w.serial_number,
              w.receipt_at + a.after, CASE WHEN w.id % 11 = 0 THEN 'resolved' ELSE 'open' END,
              a.zh || '（运单 ' || w.shipping_note_number || '）', a.en || ' (waybill ' || w.shipping_note_number || ')',
              jsonb_build_object('waybill', w.shipping_note_number, 'compared', jsonb_build_array(w.total_amount)),
              CASE WHEN w.id % 11 = 0 THEN w.receipt_at + interval '3 days' END
       FROM waybill w
       JOIN LATERAL (VALUES
           (w.id % 20 = 0, 'MATCH_NO_FUND_FLOW', 'warning', '运单无资金流水', 'no fund flow for the waybill',
            interval '7 days'),
           (w.id % 9 = 0, 'INTAKE_LATE', 'warning', '单据上传不及时', 'document uploaded late', interval '1 hour'),
           (w.id % 7 = 0, (ARRAY['TRACK_START_MISMATCH','TRACK_END_MISMATCH','TRACK_LOW_COVERAGE',
                                 'TRACK_MISSING','TRACK_IMPOSSIBLE_SPEED'])[1 + w.id / 7 % 5], 'severe',
            '轨迹异常', 'trajectory anomaly', interval '2 hours'),
           (w.id % 13 = 0, (ARRAY['QUAL_VEHICLE_CERT','QUAL_DRIVER_CERT','QUAL_ID_CHECKSUM'])[1 + w.id / 13 % 3],
            'warning', '资质异常', 'qualification', interval '5 minutes'),
           (w.id % 29 = 0, 'MATCH_AMOUNT', 'warning', '金额不一致', 'amounts differ', interval '1 day'),
           (w.id % 61 = 0, 'DUPLICATE_WAYBILL', 'severe', '运单重复', 'duplicate waybill', interval '1 hour')
       ) a(fires, code, severity, zh, en, after) ON a.fires
       WHERE w.id % 97 <> 0 OR a.code <> 'INTAKE_LATE'""",
]

_COUNTS = ("operator", "vehicle", "driver", "document_version", "waybill", "waybill_vehicle", "fund_flow",
           "anomaly", "verification")


def fill(url: str, *, ops: int, n: int, waybills: int) -> dict[str, int]:
    """Bulk-fill a fresh migrated database (as the schema owner); returns row counts."""
    from store.cluster import migration_url

    owner = create_engine(migration_url(url))
    with owner.begin() as conn:
        for sql in _FILL:
            conn.execute(text(sql), {"ops": ops, "n": n, "w": waybills, "counties": COUNTIES})
    counts = table_counts(owner)
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    owner.dispose()
    return counts


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in _COUNTS}


def routes(detail_ids: list[int]) -> list[tuple[str, list[_http.Request]]]:
    """(title, requests) per measured route; the detail cycles through ``detail_ids`` (all visible to the user)."""
    import datetime as dt

    R = _http.Request
    today = dt.date.today()
    week = {"from": str(today - dt.timedelta(days=10)), "to": str(today - dt.timedelta(days=4))}
    return [
        ("GET /waybills (page of 100)", [R("/api/v1/waybills")]),
        ("GET /waybills?from&to (7 days)", [R("/api/v1/waybills", week)]),
        ("GET /waybills/{id}", [R(f"/api/v1/waybills/{i}") for i in detail_ids or [0]]),
        ("GET /fund-flows", [R("/api/v1/fund-flows")]),
        ("GET /anomalies", [R("/api/v1/anomalies")]),
        ("GET /anomalies?group=TRACK&status=open", [R("/api/v1/anomalies", {"group": "TRACK", "status": "open"})]),
        ("GET /anomalies/summary", [R("/api/v1/anomalies/summary")]),
        ("GET /operators", [R("/api/v1/operators")]),
        ("GET /vehicles", [R("/api/v1/vehicles")]),
        ("GET /drivers", [R("/api/v1/drivers")]),
    ]


def _exists(base: str, headers: dict, path: str) -> bool:
    import httpx

    return httpx.get(base + path, headers=headers, params={"limit": 1}, timeout=60).status_code != 404


def run(url: str, *, clients: int, per_client: int, think: float, how: str, explain: bool) -> bool:
    import httpx

    engine = create_engine(url)
    counts = table_counts(engine)
    with engine.connect() as conn:
        op_id, county = conn.execute(text(
            "SELECT o.id, o.division_code FROM operator o JOIN waybill w ON w.operator_id = o.id "
            "WHERE NOT o.is_sandbox GROUP BY o.id ORDER BY count(*) DESC, o.id LIMIT 1")).one()
    engine.dispose()
    who = {"province": {"role": "province", "division_code": "340000"},
           f"county {county}": {"role": "county", "division_code": county},
           f"operator {op_id}": {"role": "operator", "operator_id": op_id}}
    users = _http.create_users(url, who)
    print(f"database: {how}")
    print("rows: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    ok = True
    with _http.serve(url, workers=2) as server:
        base = server.base
        print(f"uvicorn, 2 workers; {clients} concurrent clients (httpx.AsyncClient, keep-alive), think "
              f"{think:g} s, {per_client} requests each per route; goal p95 < {GOAL_MS:g} ms")
        print(f"before: {_http.load_average()}")
        for label, (name, password) in users.items():
            headers = _http.login(base, name, password)
            ids = [w["id"] for w in httpx.get(base + "/api/v1/waybills", headers=headers,
                                              params={"limit": 200}, timeout=60).json()["items"]]
            print(f"  {label:<40}  p50 ms  p95 ms  alone¹  cpu²  throughput     rows")
            for title, reqs in routes(ids):
                if not _exists(base, headers, reqs[0].path):
                    print(f"    {title:<40} (route not there yet)")
                    continue
                r = _http.measure(server, headers, reqs, clients=clients, per_client=per_client, think=think)
                print(_http.line(title, r, GOAL_MS), flush=True)
                ok &= bool(r.ms) and r.p95 < GOAL_MS
        print(f"after: {_http.load_average()}")
        print("¹ p50 of the same requests sent one at a time: the service time without queueing")
        print("² CPU ms per request of the uvicorn workers and the database backends, under the concurrent load")
    if explain:
        _explain(url, op_id, county)
    return ok


def _explain(url: str, op_id: int, county: str) -> None:
    """EXPLAIN ANALYZE of the statements the list services send (page and count), for each scope: captured as the
    services run, so the plans are those of the code as it is, whatever its query shape."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from auth.scope import Scope
    from supervision.anomalies import service as anomalies
    from supervision.anomalies.service import AnomalyFilter
    from supervision.basedata import drivers, vehicles
    from supervision.waybills import service as waybills

    engine = create_engine(url)
    sent: list[tuple[str, object]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("EXPLAIN"):
            sent.append((statement, parameters))

    scopes = {"province": Scope(role="province", division_prefix="34"),
              f"county {county}": Scope(role="county", division_prefix=county),
              f"operator {op_id}": Scope(role="operator", operator_id=op_id)}
    calls = {
        "waybills": lambda s, sc: waybills.list_waybills(db_session=s, scope=sc),
        "fund flows": lambda s, sc: waybills.list_fund_flows(db_session=s, scope=sc),
        "anomalies": lambda s, sc: anomalies.list_anomalies(db_session=s, scope=sc),
        "anomalies group=TRACK&status=open": lambda s, sc: anomalies.list_anomalies(
            db_session=s, scope=sc, filters=AnomalyFilter(group="TRACK", status="open")),
        "anomalies summary": lambda s, sc: anomalies.counts(db_session=s, scope=sc),
        "vehicles": lambda s, sc: vehicles.list_vehicles(db_session=s, scope=sc),
        "drivers": lambda s, sc: drivers.list_drivers(db_session=s, scope=sc),
    }
    with Session(engine) as s:
        for label, scope in scopes.items():
            for name, call in calls.items():
                sent.clear()
                call(s, scope)
                for statement, parameters in sent:
                    plan = s.connection().exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement,
                                                          parameters).scalars().all()
                    print(f"\n-- {label}: {name}\n" + "\n".join(plan))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 waybills, 2 requests per client and route")
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--vehicles", type=int, default=2000, help="vehicles, and as many drivers")
    parser.add_argument("--waybills", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=4, help="requests per client and route")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a client's requests")
    parser.add_argument("--url", help="bench this existing database (app-role URL) instead of a bulk-filled one")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the list queries for each scope")
    args = parser.parse_args()
    if args.quick:
        args.waybills, args.requests = min(args.waybills, 5000), 2

    if args.url:
        ok = run(args.url, clients=args.clients, per_client=args.requests, think=args.think,
                 how=f"existing database {args.url.rsplit('@', 1)[-1]}", explain=args.explain)
        sys.exit(0 if ok else 1)

    from store.cluster import create_migrated_database, throwaway_server

    dsn = os.environ.get("WLHY_TEST_ADMIN_DSN")
    with contextlib.nullcontext(dsn) if dsn else throwaway_server("wlhy-bench-queries-") as admin_dsn:
        url = create_migrated_database(admin_dsn, "wlhy_bench_queries_" + uuid.uuid4().hex[:8])
        t = time.perf_counter()
        fill(url, ops=args.operators, n=args.vehicles, waybills=args.waybills)
        how = (f"throwaway cluster, bulk-filled by direct INSERTs (bench/queries.py, not the /exchange feed) in "
               f"{time.perf_counter() - t:.0f} s")
        ok = run(url, clients=args.clients, per_client=args.requests, think=args.think, how=how,
                 explain=args.explain)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
