"""The national-platform simulator's BeiDou store, seeded from a ``beidou.parquet``: per vehicle, in time order."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simulation.servers.national import TrackStore


def _us(minute: int) -> int:
    return int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp() * 1e6) + minute * 60_000_000


def test_parquet_seed_is_split_per_vehicle_sorted_by_time_across_batches(tmp_path):
    # two vehicles interleaved, out of time order, a tie at minute 5 for A, a missing altitude
    plates = ["皖A1", "皖B2", "皖A1", "皖A1", "皖B2", "皖A1"]
    minutes = [9, 1, 5, 2, 0, 5]
    table = pa.table({
        "vehicle_number": plates, "plate_color": ["2"] * 6,
        "t": pa.array([_us(m) for m in minutes], pa.timestamp("us", tz="UTC")),
        "lon": [117.0 + i for i in range(6)], "lat": [31.0] * 6, "speed_kmh": [50.0] * 6,
        "direction": [90.0] * 6, "altitude": pa.array([10.0, None, 12.0, 13.0, 14.0, 15.0], pa.float64()),
    })
    path = tmp_path / "beidou.parquet"
    pq.write_table(table, path)
    store = TrackStore()
    store.load_parquet(path, batch_rows=2)  # a vehicle's fixes arrive in several batches
    assert len(store) == 6
    a = store.window("皖A1", "2", _us(0), _us(60))
    assert [(t - _us(0)) // 60_000_000 for t in a["t_us"]] == [2, 5, 5, 9]
    assert a["lon"].tolist() == [120.0, 119.0, 122.0, 117.0]  # the tie keeps the file's order
    b = store.window("皖B2", "2", _us(0), _us(1))  # both ends inclusive
    assert b["lon"].tolist() == [121.0, 118.0] and np.isnan(b["altitude"][1])
    assert store.window("皖C3", "2", _us(0), _us(60))["t_us"].size == 0
