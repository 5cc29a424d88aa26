"""A month's ranking on a demo-sized database: cold (the month and its previous month computed and stored), warm
(read back), a full recomputation of the month, an incremental one after anomalies change, and ``rebuild``.

The database is a throwaway PostGIS cluster filled by direct inserts (faster than the intake feed, same tables):
``--operators`` platforms, ``--waybills`` waybills per month over two months (each with a vehicle item, a driver,
a fund flow, a current verification), 1.5 messages per waybill, and anomalies at demo-like rates (INTAKE_LATE 3 %,
MATCH_* 3 %, DUPLICATE_WAYBILL 0.5 %, QUAL_VEHICLE/QUAL_DRIVER/VEHICLE_NOT_IN_NETWORK 1 % each, TRACK_* on every
non-PASS verdict, INTAKE_REJECTED on the 2 % rejected messages). Goal: a month's ranking in under 10 s.

    .venv/bin/python bench/ranking.py [--operators 20 --waybills 20000]

``WLHY_TEST_ADMIN_DSN`` (a superuser libpq DSN) uses an existing server instead of a throwaway cluster.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

BJ = "Asia/Shanghai"

_FILL = [
    """INSERT INTO operator (usci, name, division_code)
       SELECT 'B' || lpad(i::text, 17, '0'), '平台' || i, (ARRAY['340104','340111','340202','340302'])[1 + i % 4]
       FROM generate_series(1, :ops) i""",
    """INSERT INTO vehicle (vehicle_number, plate_color, gross_mass_t, vehicle_type, content_sha256, version)
       SELECT '皖B' || lpad(i::text, 5, '0'), '2', CASE WHEN i % 3 = 0 THEN 49 ELSE 4.4 END,
              CASE WHEN i % 7 = 0 THEN 'Q11' ELSE 'H01' END, repeat('0', 64), 1
       FROM generate_series(1, :vehicles) i""",
    """INSERT INTO driver (driving_license, name, content_sha256, version)
       SELECT '3401041990' || lpad(i::text, 8, '0'), '司机', repeat('0', 64), 1 FROM generate_series(1, :vehicles) i""",
    # waybills of two months: receipt spread over each month (Beijing), operators round-robin with uneven volumes
    """INSERT INTO waybill (operator_id, shipping_note_number, serial_number, original_document_number,
         vehicle_amount, transport_type_code, business_type_code, carrier, usci, permit_number, send_to_pro_at,
         consignment_at, despatch_at, receipt_at, total_amount, consignor, consignor_id, loading_division_code,
         consignee, receipt_division_code, actual_carrier_name, actual_carrier_license, actual_carrier_id,
         policy_number, insurance_company_code, content_sha256, received_at, version)
       SELECT o.id, 'YD' || lpad(g.i::text, 12, '0'), '0000', 'YD' || g.i, 1, '1', '1002996', o.name, o.usci, 'P',
              g.r + interval '1 hour', g.r - interval '8 hours', g.r - interval '6 hours', g.r, 1000, '甲', 'x',
              '340104', '乙', '340111', '丙', 'x', 'x', 'x', 'x', repeat('0', 64), g.r + interval '2 hours', 1
       FROM (SELECT i, (CASE WHEN i <= :n THEN CAST(:m1 AS timestamp) ELSE CAST(:m2 AS timestamp) END
                        + ((i * 7919) % (30 * 86400)) * interval '1 second') AT TIME ZONE 'Asia/Shanghai' AS r,
                    CASE WHEN i % 10 < 7 THEN 1 + i % :ops ELSE 1 + i % 5 END AS k
             FROM generate_series(1, 2 * :n) i) g
       JOIN (SELECT id, name, usci, row_number() OVER (ORDER BY id) AS k FROM operator) o ON o.k = g.k""",
    """INSERT INTO waybill_vehicle (waybill_id, seq, vehicle_number, plate_color, vehicle_id, despatch_at, receipt_at,
         loading_division_code, receipt_division_code)
       SELECT w.id, 1, v.vehicle_number, '2', v.id, w.despatch_at, w.receipt_at, '340104', '340111'
       FROM waybill w JOIN vehicle v ON v.id = 1 + (w.id * 31) % :vehicles""",
    """INSERT INTO waybill_driver (waybill_vehicle_id, driver_name, driving_license, driver_id)
       SELECT wv.id, d.name, d.driving_license, d.id FROM waybill_vehicle wv
       JOIN driver d ON d.id = 1 + (wv.waybill_id * 17) % :vehicles""",
    """INSERT INTO fund_flow (operator_id, document_number, send_to_pro_at, carrier, actual_carrier_id,
         vehicle_number, plate_color, total_paid, last_paid_at, content_sha256, version)
       SELECT operator_id, 'ZJ' || id, receipt_at + interval '1 day', carrier, 'x', 'x', '2', 1000,
              receipt_at + interval '20 hours', repeat('0', 64), 1 FROM waybill""",
    """INSERT INTO message (operator_id, user_name, message_reference_number, ipc_type, received_at, result_code)
       SELECT w.operator_id, 'u' || w.operator_id, 'm' || w.id || '-' || k, 'WLHY_YD1001', w.received_at,
              CASE WHEN (w.id * 13 + k) % 50 = 0 THEN 3005 ELSE 1001 END
       FROM waybill w, generate_series(1, 2) k WHERE k = 1 OR w.id % 2 = 0""",
    """INSERT INTO verification (waybill_id, waybill_vehicle_id, verdict, rules, current)
       SELECT wv.waybill_id, wv.id, CASE WHEN wv.waybill_id % 100 < 85 THEN 'PASS' WHEN wv.waybill_id % 100 < 93
              THEN 'SUSPECT' WHEN wv.waybill_id % 100 < 98 THEN 'FAIL' ELSE 'NO_DATA' END, '[]', true
       FROM waybill_vehicle wv""",
]

_ANOMALY = """
    INSERT INTO anomaly (code, group_code, severity, operator_id, document_kind, document_id, document_key,
                         reason_zh, reason_en)
    SELECT :code, :grp, 'warning', w.operator_id, CAST(:kind AS text), w.id, CAST(:kind AS text) || ':' || w.id,
           '基准', 'bench'
    FROM {table} w WHERE {where}
"""
_ANOMALIES = [
    ("INTAKE_LATE", "INTAKE", "waybill", "waybill", "id % 100 < 3"),
    ("MATCH_AMOUNT", "MATCH", "waybill", "waybill", "id % 100 BETWEEN 10 AND 11"),
    ("MATCH_NO_FUND_FLOW", "MATCH", "waybill", "waybill", "id % 100 = 20"),
    ("DUPLICATE_WAYBILL", "DUPLICATE", "waybill", "waybill", "id % 200 = 7"),
    ("QUAL_VEHICLE_CERT", "QUAL", "waybill", "waybill", "id % 100 = 30"),
    ("QUAL_DRIVER_CERT", "QUAL", "waybill", "waybill", "id % 100 = 40"),
    ("VEHICLE_NOT_IN_NETWORK", "NETWORK", "waybill", "waybill", "id % 100 = 50"),
    ("TRACK_LOW_COVERAGE", "TRACK", "waybill", "waybill", "id % 100 >= 85"),
    ("INTAKE_REJECTED", "INTAKE", "message", "message", "result_code <> 1001"),
]


def _fill(engine, operators: int, waybills: int, month: dt.date) -> dict[str, int]:
    prev = (month - dt.timedelta(days=1)).replace(day=1)
    params = {"ops": operators, "vehicles": max(100, waybills // 10), "n": waybills,
              "m1": dt.datetime.combine(month, dt.time()), "m2": dt.datetime.combine(prev, dt.time())}
    with engine.begin() as conn:
        for sql in _FILL:
            conn.execute(text(sql), params)
        for code, grp, kind, table, where in _ANOMALIES:
            conn.execute(text(_ANOMALY.format(table=table, where=where)), {"code": code, "grp": grp, "kind": kind})
        conn.execute(text("DELETE FROM rank_dirty"))
        conn.execute(text("DELETE FROM job"))
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("operator", "waybill", "message", "fund_flow", "verification", "anomaly")}
    return counts


def _analyze(url: str) -> None:
    """Fresh statistics, as autovacuum would have them after a day's intake (only the tables' owner may ANALYZE)."""
    from store.cluster import migration_url

    owner = create_engine(migration_url(url), isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text("ANALYZE"))
    owner.dispose()


def _timed(label: str, fn, results: dict[str, float]):
    t = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - t
    print(f"  {label:<58} {results[label]:7.2f} s")
    return out


def run(url: str, operators: int, waybills: int, month: dt.date, analyze: bool = True) -> dict[str, float]:
    from auth.scope import Scope
    from supervision.indicators import parse, ranking, rebuild, recompute_dirty, refresh

    engine = create_engine(url)
    t = time.perf_counter()
    counts = _fill(engine, operators, waybills, month)
    if analyze:
        _analyze(url)
    print(f"filled in {time.perf_counter() - t:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    period = parse(f"{month.year}-{month.month:02d}")
    res: dict[str, float] = {}
    with Session(engine) as s:
        r = _timed("cold: ranking(month) — month + previous month computed", lambda: ranking(
            s, Scope.system(), period.first, period.last), res)
        print(f"  {len(r.rows)} operators ranked, configuration version {r.config_version}")
        s.commit()
        _timed("warm: ranking(month) — stored rows read back", lambda: ranking(
            s, Scope.system(), period.first, period.last), res)
        s.commit()
        _timed("full recomputation of the month (refresh)", lambda: refresh(s, period), res)
        s.commit()
        ops = list(s.execute(text("SELECT DISTINCT operator_id FROM anomaly WHERE code LIKE 'MATCH%' "
                                  "ORDER BY 1 LIMIT 3")).scalars())
        n = s.execute(text("UPDATE anomaly SET status = 'overturned' WHERE id IN (SELECT a.id FROM anomaly a "
                           "JOIN waybill w ON w.id = a.document_id AND a.document_kind = 'waybill' "
                           "WHERE a.operator_id = ANY(:ops) AND a.code LIKE 'MATCH%' AND w.receipt_at >= :t0 "
                           "ORDER BY a.id LIMIT 50)"),
                      {"ops": ops, "t0": dt.datetime.combine(period.first, dt.time(), dt.UTC)}).rowcount
        marks = s.execute(text("SELECT count(*) FROM rank_dirty")).scalar_one()
        print(f"  {n} anomalies overturned → {marks} operator × day marks, one pending ranking job")
        s.commit()
        done = _timed("incremental: the ranking job after 50 anomalies overturned", lambda: recompute_dirty(s), res)
        s.commit()
        out = _timed("rebuild(month): the month and its quarter (+ previous periods)",
                     lambda: rebuild(s, period.first, period.last), res)
        s.commit()
        top = ranking(s, Scope.system(), period.first, period.last).rows[:3]
    engine.dispose()
    print(f"  incremental job recomputed {done['periods']}")
    print(f"  rebuild re-derived {out['periods']}")
    print("  top 3: " + "; ".join(f"#{x.rank} {x.operator_name} {x.score} ({x.waybills} waybills, Δrank "
                                   f"{x.rank_change})" for x in top))
    goal = res["full recomputation of the month (refresh)"]
    print(f"a month's ranking of {operators} operators / {waybills:,} waybills recomputed in {goal:.2f} s "
          f"(goal < 10 s): {'OK' if goal < 10 else 'MISSED'}")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--waybills", type=int, default=20_000, help="waybills per month (two months are filled)")
    parser.add_argument("--month", default="2026-10", help="the month ranked (YYYY-MM)")
    parser.add_argument("--no-analyze", action="store_true", help="rank on the stale statistics of the bulk load")
    args = parser.parse_args()
    month = dt.date.fromisoformat(args.month + "-01")

    from store.cluster import create_migrated_database, throwaway_server

    with throwaway_server("wlhy-bench-ranking-") as admin_dsn:
        url = create_migrated_database(admin_dsn, "wlhy_bench_ranking_" + uuid.uuid4().hex[:8])
        run(url, args.operators, args.waybills, month, analyze=not args.no_analyze)


if __name__ == "__main__":
    main()
