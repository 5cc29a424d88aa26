"""Verification throughput and the trajectory endpoint's latency, on generated data.

1. Kernel: the bulk path (``trajectories.bulk``: clean + measure many trajectories in one pass) against a
   straightforward MovingPandas implementation (``trajectories.reference``: speed, length, stops, gaps per
   trajectory) on the same BeiDou tracks of a generated province: fixes/s, trajectories/s and the ratio (goal ≥ 100×).
   The full per-waybill rule check (``trajectories.verification.verify_items``, database included) is timed as well,
   and the back-fill (``trajectories.backfill.verify_range``) inline and on a Dask LocalCluster: waybills/s end to end,
   CPU milliseconds per waybill (this process and its LocalCluster workers, plus the PostgreSQL server's processes:
   figures that barely depend on the shared machine's load) and the load average before → after; the two back-fills
   must leave the same verdict counts and open anomalies.
2. API: p95 of ``GET /api/v1/waybills/{id}/trajectory`` for waybills with 10,000 fixes (goal < 100 ms), through
   a live uvicorn server on a throwaway PostGIS cluster.

    .venv/bin/python bench/verify.py [--waybills 300] [--days 2] [--ref-trajectories 5] [--requests 100] [--no-api]

``WLHY_TEST_ADMIN_DSN`` (a superuser libpq DSN) uses an existing server instead of a throwaway cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

# bench/dashboard.py would shadow the dashboard package (which create_app mounts): bench/ off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

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
    print(f"load average {_loadavg()} (2 cores shared: wall-clock figures are pessimistic)")
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
                    n_days: int, *, api: bool = True) -> None:
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
    cpu = _CpuMeter(admin_dsn)
    with Session(eng) as s:
        load(s, data_dir, progress=False)
        ids = s.scalars(select(WaybillVehicle.id)).all()
        n_fix = s.execute(text("SELECT count(*) FROM position")).scalar()
        cpu.start()
        results = verify_items(s, list(ids))
        s.commit()
    print(f"verify_items     : {len(results):>5} waybill items ({n_fix:,} fixes in the DB) "
          f"{cpu.report(len(results))} (read, rules, storage, anomalies; one process, no cross-waybill rules)")
    # The back-fill as `wlhy verify` runs it: days as tasks, cross-waybill rules and the signature index included.
    # The first run verifies from scratch; the LocalCluster run re-verifies (resolving what no longer fires).
    from trajectories.backfill import verify_range

    days = (start_day - dt.timedelta(days=1), start_day + dt.timedelta(days=n_days))
    by_scheduler = {}
    for label, scheduler in (("inline", "inline"), ("LocalCluster", None)):
        cpu.start()
        counts = verify_range(url, *days, scheduler=scheduler, progress=False)
        n = sum(counts.get(k, 0) for k in ("PASS", "SUSPECT", "FAIL", "NO_DATA"))
        print(f"back-fill {label:<12}: {n:>5} waybill items {cpu.report(n)} (cluster start-up included)")
        by_scheduler[label] = (counts, _anomalies(eng))
    same = by_scheduler["inline"] == by_scheduler["LocalCluster"]
    print(f"inline vs LocalCluster: {'same' if same else 'DIFFERENT'} verdict counts and anomalies "
          f"({sum(len(v) for v in by_scheduler['inline'][1].values())} open TRACK_* anomalies)")

    if not api:
        eng.dispose()
        return
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



def _anomalies(eng) -> dict[str, list]:
    """Open TRACK_* anomalies per code: (document, reason) pairs (what a regulator sees)."""
    from sqlalchemy import text

    with eng.connect() as c:
        rows = c.execute(text("SELECT code, document_key, reason_en FROM anomaly WHERE code LIKE 'TRACK_%' "
                              "AND status = 'open' ORDER BY 1, 2")).all()
    out: dict[str, list] = {}
    for code, key, reason in rows:
        out.setdefault(code, []).append((key, reason))
    return out


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class _CpuMeter:
    """Wall time, CPU time of this process and its (reaped) children — the LocalCluster workers — and of the
    PostgreSQL server (postmaster, its live backends and the exited ones it reaped), plus the load average.

    CPU seconds per waybill barely depend on the machine's load; waybills/s (wall) do, on a shared machine.
    """

    def __init__(self, admin_dsn: str) -> None:
        import psutil
        import psycopg

        port = str(psycopg.conninfo.conninfo_to_dict(admin_dsn).get("port", "5432"))
        self._pg = None
        for proc in psutil.process_iter(["cmdline"]):
            cmd = proc.info["cmdline"] or []
            if cmd and cmd[0].endswith("postgres") and "-p" in cmd and cmd[cmd.index("-p") + 1:][:1] == [port]:
                self._pg = proc
        self._me = psutil.Process()

    def _pg_cpu(self) -> float | None:
        import psutil

        if self._pg is None:
            return None
        t = self._pg.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        try:
            children = self._pg.children()
        except psutil.NoSuchProcess:  # a backend exited while it was being listed: list again
            children = self._pg.children()
        for child in children:
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                total += c.user + c.system
        return total

    def _own_cpu(self) -> float:
        t = self._me.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def start(self) -> None:
        self._load = _loadavg()
        self._t0, self._c0, self._g0 = time.perf_counter(), self._own_cpu(), self._pg_cpu()

    def report(self, n: int) -> str:
        wall, client = time.perf_counter() - self._t0, self._own_cpu() - self._c0
        g1 = self._pg_cpu()
        pg = None if g1 is None or self._g0 is None else g1 - self._g0
        db = f" + PostgreSQL {pg / n * 1000:.1f}" if pg is not None else ""
        return (f"in {wall:6.2f} s → {n / wall:,.1f} waybills/s end to end; CPU {client / n * 1000:.1f} ms/waybill "
                f"(client and its workers){db}; load {self._load} → {_loadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waybills", type=int, default=300, help="waybills of the generated province")
    parser.add_argument("--days", type=int, default=2,
                        help="days they span (the back-fill's tasks are days: more days, steadier LocalCluster figures)")
    parser.add_argument("--ref-trajectories", type=int, default=5,
                        help="trajectories run through MovingPandas (each takes seconds)")
    parser.add_argument("--requests", type=int, default=100, help="GET requests for the latency figure")
    parser.add_argument("--big-waybills", type=int, default=5, help="waybills given 10,000 fixes")
    parser.add_argument("--no-api", action="store_true", help="skip the trajectory endpoint's latency")
    args = parser.parse_args()

    from simulation.generator import generate
    from simulation.generator.config import GeneratorConfig

    work = Path(tempfile.mkdtemp(prefix="wlhy-bench-verify-"))
    stack = contextlib.ExitStack()
    try:
        cfg = GeneratorConfig.small(days=args.days, waybills=args.waybills, vehicles=max(60, args.waybills // 3),
                                    drivers=max(66, args.waybills // 3 + 6))
        generate(cfg, work / "province", progress=False)
        _kernel(work / "province", args.ref_trajectories)
        from store.cluster import throwaway_server

        admin_dsn = stack.enter_context(throwaway_server())
        _verify_and_api(work / "province", admin_dsn, args.requests, args.big_waybills, cfg.start, cfg.days,
                        api=not args.no_api)
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
