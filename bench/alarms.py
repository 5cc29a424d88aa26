"""How long one alarm evaluation (the periodic tick's rate step) takes on a province-month.

Fills a throwaway PostGIS database with ``--operators`` platforms sharing ``--waybills`` waybills received over
the last 30 days, messages one per waybill, and anomalies of every group on a share of them (operators differ:
some clean, some over the warning and some over the severe threshold), then times ``evaluate`` (raising) and a
second ``evaluate`` (nothing new: the steady state of the tick), and prints the alarms raised.

    .venv/bin/python bench/alarms.py [--operators 20] [--waybills 70000]

``WLHY_TEST_ADMIN_DSN`` (a superuser libpq DSN) uses an existing server instead of a throwaway cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import time
import uuid


def fill(url: str, operators: int, waybills: int) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from store.models import Operator

    eng = create_engine(url)
    now = dt.datetime.now(dt.UTC)
    with Session(eng) as s:
        ops = [Operator(usci=f"9134{k:04d}{uuid.uuid4().hex[:10].upper()}", name=f"平台{k}",
                        division_code=("340104", "340102", "340202", "341002")[k % 4]) for k in range(operators)]
        s.add_all(ops)
        s.flush()
        per = waybills // operators
        for k, op in enumerate(ops):
            s.execute(text("""
                INSERT INTO waybill (operator_id, shipping_note_number, serial_number, original_document_number,
                    vehicle_amount, transport_type_code, business_type_code, carrier, usci, permit_number,
                    send_to_pro_at, consignment_at, despatch_at, receipt_at, total_amount, consignor, consignor_id,
                    loading_division_code, consignee, receipt_division_code, actual_carrier_name,
                    actual_carrier_license, actual_carrier_id, policy_number, insurance_company_code, version,
                    content_sha256, received_at)
                SELECT :op, 'YD' || :k || lpad(g::text, 8, '0'), '0000', 'O', 1, '1', '1002996', 'c', :usci, 'p',
                    t, t, t, t, 1000, 'a', 'x', '340104', 'b', '340102', 'c', 'l', 'i', 'p', 'PICC', 1, md5(g::text), t
                FROM generate_series(1, :n) g, LATERAL (SELECT :now - (g % 29 + 1) * interval '1 day' AS t) x
            """), {"op": op.id, "k": k, "usci": op.usci, "n": per, "now": now})
            s.execute(text("""INSERT INTO message (operator_id, received_at, ipc_type, result_code)
                              SELECT :op, :now - (g % 29 + 1) * interval '1 day', 'WLHY_YD1001', 1001
                              FROM generate_series(1, :n) g"""), {"op": op.id, "n": per, "now": now})
            share = (0.0, 0.03, 0.08, 0.2)[k % 4]  # clean, below, warning, severe
            for group, code in (("TRACK", "TRACK_MISSING"), ("MATCH", "MATCH_AMOUNT"), ("QUAL", "QUAL_VEHICLE_CERT"),
                                ("NETWORK", "VEHICLE_NOT_IN_NETWORK"), ("DUPLICATE", "DUPLICATE_WAYBILL")):
                s.execute(text("""
                    INSERT INTO anomaly (code, group_code, operator_id, document_kind, document_id, document_key,
                                         reason_zh, reason_en, detected_at, severity)
                    SELECT :code, :group, :op, 'waybill', w.id, 'waybill:' || w.id, 'b', 'b', w.received_at, 'warning'
                    FROM waybill w WHERE w.operator_id = :op AND random() < :share
                """), {"code": code, "group": group, "op": op.id, "share": share})
        s.commit()
        s.execute(text("ANALYZE"))
    eng.dispose()


def run(url: str, operators: int, waybills: int) -> None:
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from store.models import Alarm
    from supervision.alarms import service

    t0 = time.perf_counter()
    fill(url, operators, waybills)
    print(f"filled {operators} operators, {waybills:,} waybills and messages in {time.perf_counter() - t0:.1f} s")
    eng = create_engine(url)
    with Session(eng) as s:
        t = time.perf_counter()
        first = service.evaluate(s)
        s.commit()
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        second = service.evaluate(s)
        s.commit()
        t_second = time.perf_counter() - t
        levels = dict(s.execute(select(Alarm.level, func.count()).group_by(Alarm.level)).all())
    eng.dispose()
    print(f"evaluate (raising): {t_first:.2f} s — {first.checked} operator × group rates, {len(first.raised)} alarms "
          f"raised {levels}")
    print(f"evaluate (steady):  {t_second:.2f} s — {second.refreshed} open alarms refreshed, "
          f"{len(second.raised)} raised")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--waybills", type=int, default=70_000)
    args = parser.parse_args()
    from store.cluster import create_migrated_database, throwaway_server

    dsn = os.environ.get("WLHY_TEST_ADMIN_DSN")
    with contextlib.nullcontext(dsn) if dsn else throwaway_server("wlhy-bench-alarms-") as admin_dsn:
        url = create_migrated_database(admin_dsn, "wlhy_bench_alarms_" + uuid.uuid4().hex[:8])
        run(url, args.operators, args.waybills)


if __name__ == "__main__":
    main()
