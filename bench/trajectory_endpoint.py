"""Latency of ``GET /api/v1/waybills/{id}/trajectory`` for waybills with ~10,000 fixes: p50 / p95 under 20
concurrent clients through real HTTP against uvicorn with 2 workers, for a province and an operator user.
Goal (issue #9 item 7): p95 < 100 ms.

A throwaway PostGIS cluster holds a small generated province (``simulation.generator``, loaded through the intake
core as ``wlhy demo load`` does); the ``--waybills`` busiest waybills get their vehicle's BeiDou track densified to
``--fixes`` fixes over the transport period (interpolated along the real track) and are verified, so each answer
carries the fixes, the cleaned trajectory, stops and a verdict with evidence. Clients are closed loops on
``httpx.AsyncClient`` (send, read the whole answer, think ``--think`` s, repeat; ``--think 0`` saturates).

    .venv/bin/python bench/trajectory_endpoint.py [--quick] [--fixes 10000] [--clients 20] [--think 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import _http

GOAL_MS = 100.0


def _densify(session, url: str, n_waybills: int, n_fixes: int) -> list[int]:
    """Give the ``n_waybills`` busiest single-vehicle items ``n_fixes`` BeiDou fixes each over their transport
    period (interpolated along the vehicle's own fixes); returns their waybill ids."""
    import numpy as np
    import psycopg
    from sqlalchemy import func, select

    from store.db import psycopg_dsn
    from store.models import Position, WaybillVehicle
    from store.positions import SOURCE_BEIDOU, load_positions
    from trajectories.fixes import fixes_for_item

    items = session.execute(
        select(WaybillVehicle).join(Position, (Position.vehicle_number == WaybillVehicle.vehicle_number)
                                    & (Position.t.between(WaybillVehicle.despatch_at, WaybillVehicle.receipt_at)))
        .group_by(WaybillVehicle.id).order_by(func.count().desc()).limit(4 * n_waybills)).scalars().all()
    chosen: list[int] = []
    for item in items:
        if item.waybill_id in chosen:
            continue
        frames = [f for f in fixes_for_item(session, item).values() if len(f) >= 2]
        if not frames:
            continue
        track = max(frames, key=len)
        t = track["t"].to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6
        lon, lat = track["lon"].to_numpy(dtype=float), track["lat"].to_numpy(dtype=float)
        tt = np.linspace(t[0], t[-1], n_fixes) + 0.5  # between the existing fixes: all new rows
        cols = {"t": (tt * 1e6).astype("int64").astype("datetime64[us]"), "lon": np.interp(tt, t, lon),
                "lat": np.interp(tt, t, lat), "vehicle_number": item.vehicle_number,
                "plate_color": item.plate_color, "source": SOURCE_BEIDOU, "speed_kmh": 60.0, "direction": 0.0}
        with psycopg.connect(psycopg_dsn(url)) as conn:
            load_positions(conn, cols)
            conn.commit()
        chosen.append(item.waybill_id)
        if len(chosen) == n_waybills:
            break
    return chosen


def prepare(url: str, work: Path, n_waybills: int, n_fixes: int) -> tuple[list[int], dict[int, int]]:
    """Generate and load the small province, densify and verify; returns waybill ids and fixes per waybill."""
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from simulation.demo.load import load
    from simulation.generator import generate
    from simulation.generator.config import GeneratorConfig
    from store.models import Trajectory
    from trajectories.verification import verify_waybill

    generate(GeneratorConfig.small(days=2, waybills=120, vehicles=60, drivers=66), work, progress=False)
    engine = create_engine(url)
    with Session(engine) as s:
        load(s, work, progress=False)
        s.commit()
        ids = _densify(s, url, n_waybills, n_fixes)
        for wid in ids:
            verify_waybill(s, wid)
        s.commit()
        fixes = dict(s.execute(select(Trajectory.waybill_id, func.sum(Trajectory.n_fixes))
                               .where(Trajectory.waybill_id.in_(ids)).group_by(Trajectory.waybill_id)).all())
    engine.dispose()
    return ids, fixes


def run(url: str, ids: list[int], fixes: dict[int, int], *, clients: int, per_client: int, think: float,
        how: str) -> bool:
    import httpx
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from store.models import Waybill

    engine = create_engine(url)
    with Session(engine) as s:
        op_id = s.scalar(select(Waybill.operator_id).where(Waybill.id == ids[0]))
    engine.dispose()
    users = _http.create_users(url, {"province": {"role": "province", "division_code": "340000"},
                                     f"operator {op_id}": {"role": "operator", "operator_id": op_id}})
    print(f"database: {how}")
    print(f"waybills {ids}: fixes in their trajectories {[fixes.get(i, 0) for i in ids]}")
    ok = True
    with _http.serve(url, workers=2) as server:
        base = server.base
        print(f"uvicorn, 2 workers; {clients} concurrent clients (httpx.AsyncClient, keep-alive), think "
              f"{think:g} s, {per_client} requests each; goal p95 < {GOAL_MS:g} ms")
        print(f"before: {_http.load_average()}")
        for label, (name, password) in users.items():
            headers = _http.login(base, name, password)
            mine = [i for i in ids if httpx.get(f"{base}/api/v1/waybills/{i}/trajectory", headers=headers,
                                               timeout=60).status_code == 200]
            if not mine:
                print(f"  {label}: none of the waybills visible")
                continue
            size = len(httpx.get(f"{base}/api/v1/waybills/{mine[0]}/trajectory", headers=headers, timeout=60).content)
            print(f"  {label:<40}  p50 ms  p95 ms  alone¹  cpu²  throughput")
            reqs = [_http.Request(f"/api/v1/waybills/{i}/trajectory") for i in mine]
            r = _http.measure(server, headers, reqs, clients=clients, per_client=per_client, think=think)
            print(_http.line(f"GET /waybills/{{id}}/trajectory ({size / 1e6:.2f} MB)", r, GOAL_MS), flush=True)
            ok &= bool(r.ms) and r.p95 < GOAL_MS
        print(f"after: {_http.load_average()}")
        print("¹ p50 of the same requests sent one at a time: the service time without queueing")
        print("² CPU ms per request of the uvicorn workers and the database backends, under the concurrent load")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 waybills, 3 requests per client")
    parser.add_argument("--fixes", type=int, default=10_000, help="BeiDou fixes per densified waybill")
    parser.add_argument("--waybills", type=int, default=5, help="densified waybills the clients cycle through")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a client's requests")
    args = parser.parse_args()
    if args.quick:
        args.waybills, args.requests = 2, 3

    from store.cluster import create_migrated_database, throwaway_server

    dsn = os.environ.get("WLHY_TEST_ADMIN_DSN")
    with (tempfile.TemporaryDirectory() as tmp,
          contextlib.nullcontext(dsn) if dsn else throwaway_server("wlhy-bench-traj-") as admin_dsn):
        url = create_migrated_database(admin_dsn, "wlhy_bench_traj_" + uuid.uuid4().hex[:8])
        t = time.perf_counter()
        ids, fixes = prepare(url, Path(tmp), args.waybills, args.fixes)
        how = (f"throwaway cluster, generated province loaded through the intake core, {len(ids)} waybills "
               f"densified to {args.fixes:,} BeiDou fixes and verified, in {time.perf_counter() - t:.0f} s")
        ok = run(url, ids, fixes, clients=args.clients, per_client=args.requests, think=args.think, how=how)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
