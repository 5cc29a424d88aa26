"""Vehicle and driver query services (B1) on a demo-sized database, one caller: the median per page or detail
for an admin, a county user and an operator (what the database and ORM cost per request). Latency through real
HTTP under concurrent clients, these routes included, is bench/queries.py's.

The database is a throwaway PostGIS cluster filled by direct inserts: ``--operators`` platforms in four counties,
``--vehicles`` vehicles and as many drivers, each reported by one platform and 20 % also by a rival (two reports,
one shared row), 1–2 versions per report, and ``--waybills`` waybills each with one vehicle and one driver.

    .venv/bin/python bench/basedata.py [--operators 20 --vehicles 20000 --waybills 50000]

``WLHY_TEST_ADMIN_DSN`` (a superuser libpq DSN) uses an existing server instead of a throwaway cluster.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

# bench/dashboard.py would shadow the dashboard package the app mounts: the script's own directory goes off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

# The rival of platform k is the next one, k % ops + 1: never k itself for any count ≥ 2 (one platform has none).
_FILL = [
    """INSERT INTO operator (usci, name, division_code)
       SELECT 'B' || lpad(i::text, 17, '0'), '平台' || i, (ARRAY['340104','340111','340202','340302'])[1 + i % 4]
       FROM generate_series(1, :ops) i""",
    """INSERT INTO vehicle (vehicle_number, plate_color, operator_id, gross_mass_t, vehicle_type, content_sha256,
                           version)
       SELECT '皖B' || lpad(i::text, 5, '0'), '2', 1 + i % :ops, CASE WHEN i % 3 = 0 THEN 49 ELSE 4.4 END,
              CASE WHEN i % 7 = 0 THEN 'Q11' ELSE 'H01' END, repeat('0', 64), 1 + i % 2
       FROM generate_series(1, :n) i""",
    """INSERT INTO vehicle_report (vehicle_id, operator_id, vehicle_number, plate_color, gross_mass_t, vehicle_type,
                                  content_sha256, version)
       SELECT id, operator_id, vehicle_number, plate_color, gross_mass_t, vehicle_type, content_sha256, version
       FROM vehicle UNION ALL
       SELECT id, 1 + operator_id % :ops, vehicle_number, plate_color, 4.4, 'H01', repeat('1', 64), 1
       FROM vehicle WHERE id % 5 = 0 AND :ops > 1""",
    """INSERT INTO driver (driving_license, name, operator_id, telephone, content_sha256, version)
       SELECT '3401041990' || lpad(i::text, 8, '0'), '司机' || i, 1 + i % :ops, '139' || lpad(i::text, 8, '0'),
              repeat('0', 64), 1 + i % 2
       FROM generate_series(1, :n) i""",
    """INSERT INTO driver_report (driver_id, operator_id, driving_license, name, telephone, content_sha256, version)
       SELECT id, operator_id, driving_license, name, telephone, content_sha256, version FROM driver UNION ALL
       SELECT id, 1 + operator_id % :ops, driving_license, name, telephone, repeat('1', 64), 1
       FROM driver WHERE id % 5 = 0 AND :ops > 1""",
    """INSERT INTO document_version (kind, document_id, version, operator_id, content_sha256, payload, superseded_at)
       SELECT 'vehicle', r.id, v, r.operator_id, repeat('0', 64),
              jsonb_build_object('vehicleNumber', r.vehicle_number, 'grossMass', r.gross_mass_t),
              CASE WHEN v < r.version THEN now() END
       FROM vehicle_report r, generate_series(1, r.version) v UNION ALL
       SELECT 'driver', r.id, v, r.operator_id, repeat('0', 64),
              jsonb_build_object('drivingLicense', r.driving_license, 'telephone', r.telephone),
              CASE WHEN v < r.version THEN now() END
       FROM driver_report r, generate_series(1, r.version) v""",
    """INSERT INTO waybill (operator_id, shipping_note_number, serial_number, original_document_number,
         vehicle_amount, transport_type_code, business_type_code, carrier, usci, permit_number, send_to_pro_at,
         consignment_at, despatch_at, receipt_at, total_amount, consignor, consignor_id, loading_division_code,
         consignee, receipt_division_code, actual_carrier_name, actual_carrier_license, actual_carrier_id,
         policy_number, insurance_company_code, content_sha256, version)
       SELECT v.operator_id, 'YD' || lpad(g.i::text, 12, '0'), '0000', 'YD' || g.i, 1, '1', '1002996', 'c', 'u', 'p',
              now(), now(), now() - g.i * interval '1 minute', now(), 1000, '甲', 'x', '340104', '乙', '340111',
              '丙', 'x', 'x', 'x', 'x', repeat('0', 64), 1
       FROM generate_series(1, :waybills) g(i) JOIN vehicle v ON v.id = 1 + (g.i * 31) % :n""",
    """INSERT INTO waybill_vehicle (waybill_id, seq, vehicle_number, plate_color, vehicle_id, despatch_at, receipt_at,
         loading_division_code, receipt_division_code)
       SELECT w.id, 0, v.vehicle_number, '2', v.id, w.despatch_at, w.receipt_at, '340104', '340111'
       FROM waybill w JOIN vehicle v ON v.id = 1 + (substr(w.original_document_number, 3)::int * 31) % :n""",
    """INSERT INTO waybill_driver (waybill_vehicle_id, driver_name, driving_license, driver_id)
       SELECT wv.id, d.name, d.driving_license, d.id FROM waybill_vehicle wv JOIN driver d ON d.id = wv.vehicle_id""",
]


def _fill(url: str, ops: int, n: int, waybills: int) -> dict[str, int]:
    from store.cluster import migration_url

    owner = create_engine(migration_url(url))
    with owner.begin() as conn:
        for sql in _FILL:
            conn.execute(text(sql), {"ops": ops, "n": n, "waybills": waybills})
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("vehicle", "vehicle_report", "driver", "driver_report", "document_version", "waybill")}
    owner.dispose()
    return counts


def _services(url: str, ops: int) -> None:
    """The query services alone, one caller: median of 10 runs (what the database and ORM cost per request)."""
    from auth.scope import Scope
    from supervision.basedata import drivers, vehicles

    me = min(4, ops)  # platform 4, or the last when there are fewer; vehicle i is platform 1 + i % ops's
    mine = me - 1 if me > 1 else 1
    scopes = {"admin": (Scope(role="admin", personal_data=True), 5),
              "county 340104": (Scope(role="county", division_prefix="340104"), 5),
              f"operator {me}": (Scope(role="operator", operator_id=me, personal_data=True), mine)}
    engine = create_engine(url)
    print("query services, one caller, median of 10 runs in ms")
    with Session(engine) as s:
        for label, (sc, vid) in scopes.items():
            calls = {
                "vehicles page (100)": lambda sc=sc: vehicles.list_vehicles(db_session=s, scope=sc),
                "vehicles heavy, sorted -updatedAt": lambda sc=sc: vehicles.list_vehicles(
                    db_session=s, scope=sc, filters=vehicles.VehicleFilter(heavy=True), sort="-updatedAt"),
                "drivers page (100)": lambda sc=sc: drivers.list_drivers(db_session=s, scope=sc),
                "driver by full ID number": lambda sc=sc: drivers.list_drivers(
                    db_session=s, scope=sc, filters=drivers.DriverFilter(id_number="340104199000000120")),
                "vehicle detail": lambda sc=sc, vid=vid: vehicles.get_vehicle(db_session=s, scope=sc,
                                                                              vehicle_id=vid),
            }
            print(f"  {label}")
            for title, fn in calls.items():
                fn()
                ms = []
                for _ in range(10):
                    t0 = time.perf_counter()
                    fn()
                    ms.append((time.perf_counter() - t0) * 1000)
                print(f"    {title:<36} {statistics.median(ms):7.1f}")
    engine.dispose()


def run(url: str, *, ops: int, n: int, waybills: int) -> None:
    t = time.perf_counter()
    counts = _fill(url, ops, n, waybills)
    print(f"filled in {time.perf_counter() - t:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    _services(url, ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--vehicles", type=int, default=20_000, help="vehicles, and as many drivers")
    parser.add_argument("--waybills", type=int, default=50_000)
    args = parser.parse_args()
    if args.operators < 1 or args.vehicles < 5 or args.waybills < 0:
        parser.error("need --operators ≥ 1, --vehicles ≥ 5 and --waybills ≥ 0")

    from store.cluster import create_migrated_database, throwaway_server

    with throwaway_server("wlhy-bench-basedata-") as admin_dsn:
        url = create_migrated_database(admin_dsn, "wlhy_bench_basedata_" + uuid.uuid4().hex[:8])
        run(url, ops=args.operators, n=args.vehicles, waybills=args.waybills)


if __name__ == "__main__":
    main()
