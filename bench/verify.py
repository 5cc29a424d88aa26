"""Verification throughput and the trajectory endpoint's latency, on generated data.

1. Kernel: the bulk path (``trajectories.bulk``: clean + measure many trajectories in one pass) against a
   straightforward MovingPandas implementation (``trajectories.reference``: speed, length, stops, gaps per
   trajectory) on the same BeiDou tracks of a generated province: fixes/s, trajectories/s and the ratio (goal ≥ 100×).
   The full per-waybill rule check (``trajectories.verification.verify_items``, database included) is timed as well,
   and the back-fill (``trajectories.backfill.verify_range``) inline and on a Dask LocalCluster: waybills/s end to end.
2. API: p95 of ``GET /api/v1/waybills/{id}/trajectory`` for waybills with 10,000 fixes (goal < 100 ms), through
   a live uvicorn server on a throwaway PostGIS cluster.

    .venv/bin/python bench/verify.py [--waybills 300] [--ref-trajectories 20] [--requests 100]

``WLHY_TEST_ADMIN_DSN`` (a superuser libpq DSN) uses an existing server instead of a throwaway cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


def _kernel(data_dir: Path, n_ref: int) -> None:
    from trajectories import reference
    from trajectories.bulk import bulk

    tab = pq.read_table(data_dir / "beidou.parquet").to_pandas()
    tab["traj_id"] = tab["vehicle_number"] + "/" + tab["plate_color"].astype(str)
    fixes = pd.DataFrame({"traj_id": tab["traj_id"], "t": pd.to_datetime(tab["t"], utc=True),
                          "lon": tab["lon"], "lat": tab["lat"]})
    n_traj = fixes["traj_id"].nunique()
    t0 = time.perf_counter()
    stats = bulk(fixes)
    bulk_s = time.perf_counter() - t0
    print(f"bulk path        : {len(fixes):>9,} fixes, {n_traj:>5} trajectories in {bulk_s:7.3f} s  "
          f"→ {len(fixes) / bulk_s:>12,.0f} fixes/s  {n_traj / bulk_s:>9,.1f} trajectories/s")
    ids = sorted(fixes["traj_id"].unique())[:n_ref]
    ref = fixes.loc[fixes["traj_id"].isin(ids)].sort_values(["traj_id", "t"])
    ref = ref.drop_duplicates(["traj_id", "t"])
    t0 = time.perf_counter()
    for _, one in ref.groupby("traj_id"):
        one = one.reset_index(drop=True)
        reference.mpd_speed(one)
        reference.mpd_length_m(one)
        reference.mpd_stops(one)
        reference.mpd_gaps(one)
    ref_s = time.perf_counter() - t0
    print(f"MovingPandas ref : {len(ref):>9,} fixes, {len(ids):>5} trajectories in {ref_s:7.3f} s  "
          f"→ {len(ref) / ref_s:>12,.0f} fixes/s  {len(ids) / ref_s:>9,.1f} trajectories/s")
    print(f"ratio (fixes/s)  : {(len(fixes) / bulk_s) / (len(ref) / ref_s):,.0f}×  (goal ≥ 100×)")
    assert len(stats) == n_traj


def _database(admin_dsn: str) -> str:
    from store.cluster import create_migrated_database

    return create_migrated_database(admin_dsn, "wlhy_bench_verify_" + uuid.uuid4().hex[:8])


def _verify_and_api(data_dir: Path, admin_dsn: str, n_requests: int, n_big: int, start_day: dt.date,
                    n_days: int) -> None:
    import httpx
    import uvicorn
    from fastapi import APIRouter, Depends
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.orm import Session

    from api.deps import get_current_user
    from api.main import create_app
    from api.routes import stats, trajectories
    from auth import service as auth_service
    from simulation.demo.load import load
    from store.cluster import free_port
    from store.models import WaybillVehicle
    from store.positions import SOURCE_APP, load_positions
    from trajectories.verification import verify_items

    url = _database(admin_dsn)
    eng = create_engine(url)
    with Session(eng) as s:
        load(s, data_dir, progress=False)
        ids = s.scalars(select(WaybillVehicle.id)).all()
        n_fix = s.execute(text("SELECT count(*) FROM position")).scalar()
        t0 = time.perf_counter()
        results = verify_items(s, list(ids))
        s.commit()
        took = time.perf_counter() - t0
    print(f"verify_items     : {len(results):>5} waybill items ({n_fix:,} fixes in the DB) in {took:6.2f} s  "
          f"→ {len(results) / took:,.1f} waybills/s end to end (read, rules, storage and anomalies; one process)")
    # The back-fill as `wlhy verify` runs it: days as tasks, cross-waybill rules and the signature index included.
    from trajectories.backfill import verify_range

    days = (start_day - dt.timedelta(days=1), start_day + dt.timedelta(days=n_days))
    for label, scheduler in (("inline", "inline"), ("LocalCluster", None)):
        t0 = time.perf_counter()
        counts = verify_range(url, *days, scheduler=scheduler, progress=False)
        took = time.perf_counter() - t0
        n = sum(counts.get(k, 0) for k in ("PASS", "SUSPECT", "FAIL", "NO_DATA"))
        print(f"back-fill {label:<12}: {n:>5} waybill items in {took:6.2f} s → {n / took:,.1f} waybills/s end to end "
              f"(cluster start-up included)")

    # 10,000-fix waybills: densify the app track of a few items (1 fix every ~2 s over the window)
    with Session(eng) as s:
        items = s.scalars(select(WaybillVehicle).order_by(WaybillVehicle.id).limit(n_big)).all()
        conn = s.connection().connection.driver_connection
        big = []
        for item in items:
            start = item.despatch_at - dt.timedelta(hours=1)
            span_s = (item.receipt_at - item.despatch_at).total_seconds() + 7200
            t = np.datetime64(start.replace(tzinfo=None), "us") + (np.linspace(0, span_s, 10_000) * 1e6).astype(
                "timedelta64[us]")
            lon = np.linspace(116.5, 117.5, 10_000) + np.random.default_rng(1).normal(0, 1e-5, 10_000)
            lat = np.linspace(31.5, 32.0, 10_000)
            s.execute(text("DELETE FROM position WHERE vehicle_number = :v AND plate_color = :c AND source = 1 "
                           "AND t BETWEEN :a AND :b"), {"v": item.vehicle_number, "c": item.plate_color,
                                                        "a": start - dt.timedelta(hours=1),
                                                        "b": item.receipt_at + dt.timedelta(hours=2)})
            load_positions(conn, {"t": t, "vehicle_number": item.vehicle_number, "plate_color": item.plate_color,
                                  "source": SOURCE_APP, "lon": lon, "lat": lat,
                                  "operator_id": s.scalar(text("SELECT operator_id FROM waybill WHERE id = :w"),
                                                          {"w": item.waybill_id})})
            big.append(item.waybill_id)
        s.commit()
        verify_items(s, [i.id for i in items])
        s.commit()
        auth_service.create(db_session=s, username="bench-admin", password="bench-pass-123", role="admin")
        s.commit()

    app = create_app(url)
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(get_current_user)])
    api.include_router(trajectories.router)
    api.include_router(stats.router)
    app.include_router(api)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}", timeout=30) as http:
            token = http.post("/api/v1/auth/login", json={"username": "bench-admin",
                                                          "password": "bench-pass-123"}).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            lat_ms, sizes = [], []
            for k in range(n_requests + 5):
                wid = big[k % len(big)]
                t0 = time.perf_counter()
                r = http.get(f"/api/v1/waybills/{wid}/trajectory", headers=headers)
                ms = (time.perf_counter() - t0) * 1000
                r.raise_for_status()
                if k >= 5:  # warm-up
                    lat_ms.append(ms)
                    sizes.append(len(r.content))
        q = statistics.quantiles(lat_ms, n=100)
        print(f"GET trajectory   : 10,000-fix waybills, {len(lat_ms)} requests: p50 {q[49]:.1f} ms, "
              f"p95 {q[94]:.1f} ms (goal < 100 ms), body {statistics.mean(sizes) / 1e6:.2f} MB")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        eng.dispose()



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waybills", type=int, default=300, help="waybills of the generated province")
    parser.add_argument("--ref-trajectories", type=int, default=20, help="trajectories run through MovingPandas")
    parser.add_argument("--requests", type=int, default=100, help="GET requests for the latency figure")
    parser.add_argument("--big-waybills", type=int, default=5, help="waybills given 10,000 fixes")
    args = parser.parse_args()

    from simulation.generator import generate
    from simulation.generator.config import GeneratorConfig

    work = Path(tempfile.mkdtemp(prefix="wlhy-bench-verify-"))
    stack = contextlib.ExitStack()
    try:
        cfg = GeneratorConfig.small(days=2, waybills=args.waybills, vehicles=max(60, args.waybills // 3),
                                    drivers=max(66, args.waybills // 3 + 6))
        generate(cfg, work / "province", progress=False)
        _kernel(work / "province", args.ref_trajectories)
        from store.cluster import throwaway_server

        admin_dsn = stack.enter_context(throwaway_server())
        _verify_and_api(work / "province", admin_dsn, args.requests, args.big_waybills, cfg.start, cfg.days)
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
