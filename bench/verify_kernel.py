"""Throughput of the trajectory kernels: build()+verify() per waybill and bulk(), versus MovingPandas.

Usage: python bench/verify_kernel.py [--n-traj 1000] [--mpd-traj 100]

Generates BeiDou-like tracks (30 s, simulation.generator) of about 1000 fixes each, then times
(1) build() + verify() for every trajectory in a loop, (2) bulk() over all of them in one frame,
(3) the MovingPandas reference (TrajectoryCollection, add_speed, TrajectoryStopDetector,
ObservationGapSplitter, get_length) on the first --mpd-traj trajectories. Prints fixes per second.
"""

from __future__ import annotations

import argparse
import time
import warnings
from datetime import timedelta

import numpy as np
import pandas as pd

from simulation.generator.tracks import build_movement, sample_movement
from trajectories import Place, VerificationInput, build, bulk, verify
from trajectories.columns import LAT, LON, TRAJ_ID, T


def _tracks(n: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        lon0, lat0 = 117.0 + rng.uniform(-1, 1), 31.8 + rng.uniform(-1, 1)
        # ~45-65 km trips: ~4 h windows, ~1000 fixes at 30 s.
        ang = rng.uniform(0, 2 * np.pi)
        unload = (lon0 + 0.45 * np.cos(ang), lat0 + 0.4 * np.sin(ang))
        mov = build_movement(
            rng,
            depot_lonlat=(lon0 + 0.03, lat0 + 0.02),
            load_lonlat=(lon0, lat0),
            unload_lonlat=unload,
            despatch_s=1_740_816_000 + k * 3600,
            length_factor=float(rng.uniform(1.1, 1.4)),
        )
        s = sample_movement(
            rng,
            mov,
            source="beidou",
            interval_s=30,
            noise_m=5.0,
            outlier_rate=0.002,
            gap_prob=0.25,
            duplicate_rate=0.002,
        )
        df = pd.DataFrame({T: pd.to_datetime(s.t, unit="s", utc=True).as_unit("us"), LON: s.lon, LAT: s.lat})
        out.append((df, mov, (lon0, lat0), unload))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-traj", type=int, default=1000)
    ap.add_argument("--mpd-traj", type=int, default=100)
    args = ap.parse_args()

    t0 = time.perf_counter()
    tracks = _tracks(args.n_traj)
    n = sum(len(df) for df, *_ in tracks)
    print(f"generated {args.n_traj} trajectories, {n:,} fixes in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    verdicts = {}
    for df, mov, load, unload in tracks:
        inp = VerificationInput(
            pd.Timestamp(mov.despatch_s, unit="s", tz="UTC"),
            pd.Timestamp(mov.receipt_s, unit="s", tz="UTC"),
            Place(*load, 0.0, True),
            Place(*unload, 0.0, True),
            beidou=df,
        )
        v = verify(inp)
        verdicts[v.verdict] = verdicts.get(v.verdict, 0) + 1
    dt_verify = time.perf_counter() - t0
    print(
        f"verify() (build + 7 rules) per waybill: {dt_verify:.2f} s = {n / dt_verify:,.0f} fixes/s, "
        f"{args.n_traj / dt_verify:,.0f} waybills/s; verdicts {verdicts}"
    )

    t0 = time.perf_counter()
    for df, mov, *_ in tracks:
        build(
            df,
            window_start=pd.Timestamp(mov.despatch_s - 7200, unit="s", tz="UTC"),
            window_end=pd.Timestamp(mov.receipt_s + 7200, unit="s", tz="UTC"),
        )
    dt_build = time.perf_counter() - t0
    print(f"build() alone per trajectory: {dt_build:.2f} s = {n / dt_build:,.0f} fixes/s")

    allfix = pd.concat([df.assign(**{TRAJ_ID: k}) for k, (df, *_) in enumerate(tracks)], ignore_index=True)
    windows = pd.DataFrame(
        {
            TRAJ_ID: range(len(tracks)),
            "window_start": [pd.Timestamp(m.despatch_s - 7200, unit="s", tz="UTC") for _, m, *_ in tracks],
            "window_end": [pd.Timestamp(m.receipt_s + 7200, unit="s", tz="UTC") for _, m, *_ in tracks],
        }
    )
    t0 = time.perf_counter()
    stats = bulk(allfix, windows=windows)
    dt_bulk = time.perf_counter() - t0
    print(
        f"bulk() (clean + speed + coverage + gaps + stops, one frame): {dt_bulk:.2f} s = "
        f"{n / dt_bulk:,.0f} fixes/s; {int(stats['n_stops'].sum())} stops"
    )

    if args.mpd_traj <= 0:
        return
    import geopandas as gpd
    import movingpandas as mpd

    warnings.simplefilter("ignore")
    sub = allfix[allfix[TRAJ_ID] < args.mpd_traj].drop_duplicates([TRAJ_ID, T])
    m = len(sub)
    t0 = time.perf_counter()
    gdf = gpd.GeoDataFrame(
        sub.assign(t=sub[T].dt.tz_localize(None)),
        geometry=gpd.points_from_xy(sub[LON], sub[LAT]),
        crs="EPSG:4326",
    )
    tc = mpd.TrajectoryCollection(gdf, traj_id_col=TRAJ_ID, t=T)
    tc.add_speed(units=("km", "h"))
    mpd.TrajectoryStopDetector(tc).get_stop_points(min_duration=timedelta(minutes=10), max_diameter=200)
    mpd.ObservationGapSplitter(tc).split(gap=timedelta(minutes=30))
    [tr.get_length() for tr in tc.trajectories]
    dt_mpd = time.perf_counter() - t0
    print(
        f"MovingPandas reference on {args.mpd_traj} trajectories ({m:,} fixes; speed, stops, gaps, length): "
        f"{dt_mpd:.1f} s = {m / dt_mpd:,.0f} fixes/s"
    )
    print(
        f"speed-up: bulk() {n / dt_bulk / (m / dt_mpd):,.0f}×, build()+verify() {n / dt_verify / (m / dt_mpd):,.0f}×"
    )


if __name__ == "__main__":
    main()
