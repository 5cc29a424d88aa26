"""Bulk position load: the store's loader versus raw binary COPY of the same rows, in the same run.

Both write into the real, indexed ``position`` table (primary key + GiST) of a scratch database; the table is
emptied before each run.  The loader does everything production does (day partitions on demand, staging COPY,
server-side geometry, ``ON CONFLICT DO NOTHING`` for idempotent re-sends); raw COPY is the floor: rows written
straight into the partitions with WKB geometry built in Python, no de-duplication.

    .venv/bin/python bench/load_positions.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import numpy as np
import psycopg
import shapely

from core.config import get_settings
from geo import hexes
from store.cluster import create_migrated_database
from store.db import local_cluster, psycopg_dsn
from store.positions import SOURCE_BEIDOU, beijing_days, ensure_partitions, load_positions

BENCH_DB = "wlhy_bench"


def make_rows(n: int, vehicles: int, seed: int = 7) -> dict[str, np.ndarray]:
    """``n`` fixes of ``vehicles`` trucks every 30 s, a random walk over Anhui (WGS-84)."""
    rng = np.random.default_rng(seed)
    per = n // vehicles
    n = per * vehicles
    vid = np.repeat(np.arange(vehicles), per)
    t0 = np.datetime64("2026-10-01T00:00:00", "us")
    t = t0 + (np.tile(np.arange(per), vehicles) * 30_000_000).astype("timedelta64[us]")
    lon = 117.0 + rng.uniform(-1.5, 1.5, vehicles)[vid] + np.cumsum(rng.normal(0, 2e-4, n))
    lat = 31.8 + rng.uniform(-1.5, 1.5, vehicles)[vid] + np.cumsum(rng.normal(0, 2e-4, n))
    return {
        "t": t,
        "vehicle_number": np.array([f"皖A{v:05d}" for v in range(vehicles)], dtype=object)[vid],
        "plate_color": "2",
        "source": SOURCE_BEIDOU,
        "lon": lon,
        "lat": lat,
        "speed_kmh": rng.uniform(0, 90, n).astype(np.float32),
        "direction": rng.uniform(0, 360, n).astype(np.float32),
    }


def run_loader(dsn: str, rows: dict) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE position")
        conn.commit()
        t = time.perf_counter()
        inserted = load_positions(conn, rows)
        conn.commit()
        elapsed = time.perf_counter() - t
    assert inserted == len(rows["t"]), inserted
    return elapsed


def run_raw_copy(dsn: str, rows: dict) -> float:
    n = len(rows["t"])
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE position")
        ensure_partitions(conn, beijing_days(rows["t"]))
        conn.commit()
        t = time.perf_counter()
        h3 = hexes.points_to_cells(rows["lon"], rows["lat"], 9)  # the loader computes it too: same work timed
        wkb = shapely.to_wkb(shapely.points(rows["lon"], rows["lat"]), include_srid=False, hex=False)
        ts = [x.replace(tzinfo=dt.timezone.utc) for x in rows["t"].tolist()]
        with conn.cursor() as cur, cur.copy(
            "COPY position (t, vehicle_number, plate_color, source, geom, h3, speed_kmh, direction) "
            "FROM STDIN (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["timestamptz", "text", "text", "int2", "bytea", "int8", "float4", "float4"])
            for row in zip(ts, rows["vehicle_number"].tolist(), ["2"] * n, [2] * n, wkb.tolist(),
                           h3.tolist(), rows["speed_kmh"].tolist(), rows["direction"].tolist()):
                cp.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - t
        # geometry_recv takes WKB without SRID; set it the way the column expects before comparing counts
        got = conn.execute("SELECT count(*) FROM position").fetchone()[0]
    assert got == n, got
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--vehicles", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    settings = get_settings()
    if settings.database_url:
        admin = psycopg_dsn(settings.database_url)
    else:
        cluster = local_cluster()
        cluster.start()
        admin = cluster.dsn()
    create_migrated_database(admin, BENCH_DB)
    url = psycopg.conninfo.make_conninfo(admin, dbname=BENCH_DB)

    rows = make_rows(args.rows, args.vehicles)
    n = len(rows["t"])
    print(f"rows: {n:,} fixes, {args.vehicles} vehicles, {len(beijing_days(rows['t']))} day partitions; "
          f"indexed table (pk + GiST); median of {args.repeat}")
    loader, raw = [], []
    for i in range(args.repeat):
        loader.append(run_loader(url, rows))
        raw.append(run_raw_copy(url, rows))
        print(f"  run {i + 1}: loader {loader[-1]:.2f} s, raw COPY {raw[-1]:.2f} s")
    lo, rc = statistics.median(loader), statistics.median(raw)
    print(f"store loader (staging COPY + INSERT … ON CONFLICT): {n / lo:,.0f} rows/s ({lo:.2f} s)")
    print(f"raw binary COPY (no de-duplication):               {n / rc:,.0f} rows/s ({rc:.2f} s)")
    print(f"ratio loader / raw COPY: {rc / lo:.2f}")
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE position")


if __name__ == "__main__":
    main()
