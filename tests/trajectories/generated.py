"""Realistic generated tracks (simulation.generator) for the reference and bulk comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulation.generator.tracks import build_movement, sample_movement
from trajectories.columns import LAT, LON, TRAJ_ID, T


def generated_tracks(
    n: int, *, seed: int = 7, interval_s=30, outlier_rate=0.002
) -> list[tuple[pd.DataFrame, tuple]]:
    """``n`` raw BeiDou-like tracks with their waybill windows [despatch − 2 h, receipt + 2 h]."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        lon0, lat0 = 117.0 + rng.uniform(-1, 1), 31.8 + rng.uniform(-1, 1)
        unload = (lon0 + rng.uniform(-0.6, 0.6), lat0 + rng.uniform(-0.6, 0.6))
        mov = build_movement(
            rng,
            depot_lonlat=(lon0 + 0.03, lat0 + 0.02),
            load_lonlat=(lon0, lat0),
            unload_lonlat=unload,
            despatch_s=1_740_816_000 + k * 86_400,
            length_factor=float(rng.uniform(1.1, 1.4)),
        )
        s = sample_movement(
            rng,
            mov,
            source="beidou",
            interval_s=interval_s,
            noise_m=5.0,
            outlier_rate=outlier_rate,
            gap_prob=0.5,
            duplicate_rate=0.003,
        )
        df = pd.DataFrame({T: pd.to_datetime(s.t, unit="s", utc=True).as_unit("us"), LON: s.lon, LAT: s.lat})
        window = (
            pd.Timestamp(mov.despatch_s - 7200, unit="s", tz="UTC"),
            pd.Timestamp(mov.receipt_s + 7200, unit="s", tz="UTC"),
        )
        out.append((df, window))
    return out


def stacked(tracks) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All tracks in one frame with ``traj_id`` (shuffled rows), and the windows frame."""
    frames = [df.assign(**{TRAJ_ID: f"w{k:03d}"}) for k, (df, _) in enumerate(tracks)]
    allfix = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=1)
    windows = pd.DataFrame(
        {
            TRAJ_ID: [f"w{k:03d}" for k in range(len(tracks))],
            "window_start": [w[0] for _, w in tracks],
            "window_end": [w[1] for _, w in tracks],
        }
    )
    return allfix, windows
