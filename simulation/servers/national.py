"""Simulator of the national freight-vehicle platform (全国道路货运车辆公共监管与服务平台): 入网 and BeiDou.

Endpoints (JSON, camelCase wire keys)::

    GET  /national/v1/vehicles/{vehicleNumber}/{plateColor}/in-network
         -> {"vehicleNumber", "vehiclePlateColorCode", "inNetwork": bool, "since": "YYYYMMDD" | null}
         404 {"code": "NOT_FOUND"} when the platform has never seen the vehicle
    GET  /national/v1/vehicles/{vehicleNumber}/{plateColor}/track?start=&end=
         start/end: ISO-8601 or YYYYMMDDhhmmss (no offset = UTC+8); fixes with start <= t <= end
         -> {"vehicleNumber", "vehiclePlateColorCode", "coordinateSystem": "WGS84", "start", "end", "count",
             "t": [epoch ms], "lon": [...], "lat": [...], "speedKmh": [...], "direction": [...],
             "altitude": [...]}
         400 {"code": "WINDOW_TOO_LONG"} over `max_window_h` (72 h), {"code": "BAD_WINDOW"} end < start,
         {"code": "BAD_TIME"} unparsable; an unknown vehicle has an empty track (200)
    POST /admin/records/in_network   body: JSON list of in-network records (upsert by plate + colour)
    POST /admin/tracks               body: one track object or a list, column-wise like the track answer:
                                     {"vehicleNumber", "vehiclePlateColorCode", "t": [epoch ms], "lon", "lat",
                                     "speedKmh", "direction", "altitude"?}; merged into the vehicle's fixes
    POST /admin/faults, GET /health

Seed files under `data_dir`: ``registry/in_network.jsonl`` and ``beidou.parquet`` (columns vehicle_number,
plate_color, t timestamp[us, UTC], lon, lat, speed_kmh, direction, altitude).
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fastapi import Body, FastAPI
from pydantic import TypeAdapter, ValidationError

from etl.adapters._time import epoch_us, parse_instant
from etl.adapters.records import (
    TRACK_COLUMNS,
    TRACK_PARQUET_COLUMNS,
    BeidouTrack,
    BeidouTrackWire,
    InNetworkStatusWire,
)
from simulation.servers.base import SimError, Table, registry_app

__all__ = ["DEFAULT_MAX_WINDOW_H", "KINDS", "TrackStore", "create_app", "vehicle_rows"]

#: Record kinds held in tables (tracks have their own store and ``/admin/tracks``).
KINDS = ("in_network",)
#: Longest track window the platform answers, hours.
DEFAULT_MAX_WINDOW_H = 72.0

#: Columns a vehicle's fixes are held in: time in epoch microseconds, then those of ``BeidouTrack``.
_COLUMNS = ("t_us", *TRACK_COLUMNS[1:])


def vehicle_rows(batch: pa.RecordBatch) -> list[tuple[tuple[str, str], np.ndarray]]:
    """A batch of track rows grouped per vehicle: ``((plate, colour), row positions)``, file order kept within a
    vehicle. Grouped with Arrow's dictionary encoding: few vehicles, many fixes, no Python string per row."""
    keys = pc.binary_join_element_wise(batch.column("vehicle_number").cast(pa.string()),
                                       batch.column("plate_color").cast(pa.string()), "\x1f")
    encoded = keys.dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1, order.size]
    names = encoded.dictionary.to_pylist()
    return [(tuple(names[codes[order[a]]].split("\x1f")), order[a:b]) for a, b in itertools.pairwise(bounds)
            if b > a]


class TrackStore:
    """BeiDou fixes per (plate, colour): columns sorted by time, windows cut with ``searchsorted``."""

    def __init__(self) -> None:
        self._tracks: dict[tuple[str, str], dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return sum(int(c["t_us"].size) for c in self._tracks.values())

    def load_parquet(self, path: Path, batch_rows: int = 1_000_000) -> None:
        """Add every fix of a ``beidou.parquet`` file.

        Read a batch at a time and grouped per vehicle with Arrow's dictionary encoding: a whole-file read with
        NumPy string keys held several times the fixes' own size (GBs for the full demo province).
        """
        chunks: dict[tuple[str, str], list[dict[str, np.ndarray]]] = {}
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=list(TRACK_PARQUET_COLUMNS)):
            cols = {"t_us": batch.column("t").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
                    .to_numpy(zero_copy_only=False).astype(np.int64)}
            for name in _COLUMNS[1:]:
                # Nulls (an altitude the device did not report) become NaN.
                cols[name] = batch.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
            for key, rows in vehicle_rows(batch):
                chunks.setdefault(key, []).append({c: cols[c][rows] for c in _COLUMNS})
        for key, parts in chunks.items():
            new = {c: np.concatenate([p[c] for p in parts]) for c in _COLUMNS}
            parts.clear()  # free the pieces as each vehicle is assembled
            self._merge(key, new, presorted=False)

    def add(self, vehicle_number: str, plate_color: str, cols: dict[str, np.ndarray]) -> int:
        """Merge fixes of one vehicle (columns keyed like ``_COLUMNS``); return how many were added."""
        n = int(cols["t_us"].size)
        self._add_rows(np.full(n, vehicle_number), np.full(n, plate_color), cols)
        return n

    def window(self, vehicle_number: str, plate_color: str, t0_us: int, t1_us: int) -> dict[str, np.ndarray]:
        """Fixes with ``t0_us <= t <= t1_us`` (both ends inclusive)."""
        track = self._tracks.get((vehicle_number, plate_color))
        if track is None:
            return {k: np.zeros(0, dtype=np.int64 if k == "t_us" else np.float64) for k in _COLUMNS}
        i0 = np.searchsorted(track["t_us"], t0_us, side="left")
        i1 = np.searchsorted(track["t_us"], t1_us, side="right")
        return {k: v[i0:i1] for k, v in track.items()}

    def _add_rows(self, plates: np.ndarray, colours: np.ndarray, cols: dict[str, np.ndarray]) -> None:
        if plates.size == 0:
            return
        keys = np.char.add(np.char.add(plates.astype(str), "\x1f"), colours.astype(str))
        uniq, inv = np.unique(keys, return_inverse=True)
        order = np.lexsort((cols["t_us"], inv))
        starts = np.r_[0, np.flatnonzero(np.diff(inv[order])) + 1]
        stops = np.r_[starts[1:], order.size]
        for k, a, b in zip(uniq, starts, stops, strict=True):
            plate, colour = str(k).split("\x1f")
            rows = order[a:b]
            self._merge((plate, colour), {c: cols[c][rows] for c in _COLUMNS}, presorted=True)

    def _merge(self, key: tuple[str, str], new: dict[str, np.ndarray], *, presorted: bool) -> None:
        """Merge one vehicle's fixes into its track (sorted by time; ties keep the held fixes, then ``new``'s order)."""
        if not presorted:
            keep = np.argsort(new["t_us"], kind="stable")
            new = {c: v[keep] for c, v in new.items()}
        old = self._tracks.get(key)
        if old is not None:
            merged = {c: np.concatenate([old[c], new[c]]) for c in _COLUMNS}
            # Stable sort: fixes already held stay before new ones at the same instant.
            keep = np.argsort(merged["t_us"], kind="stable")
            new = {c: merged[c][keep] for c in _COLUMNS}
        self._tracks[key] = new


def create_app(data_dir: Path | None = None, *, max_window_h: float = DEFAULT_MAX_WINDOW_H) -> FastAPI:
    """Build the national-platform simulator, seeded from `data_dir` (empty when None)."""
    in_network = Table(InNetworkStatusWire, key=lambda r: (r["vehicleNumber"], r["vehiclePlateColorCode"]))
    tracks = TrackStore()
    if data_dir is not None and (Path(data_dir) / "beidou.parquet").exists():
        tracks.load_parquet(Path(data_dir) / "beidou.parquet")

    app = registry_app(
        "national freight-vehicle platform simulator",
        "全国道路货运车辆公共监管与服务平台: in-network status and BeiDou tracks (WGS-84).",
        {"in_network": in_network},
        data_dir,
    )
    app.state.tracks = tracks
    max_window = dt.timedelta(hours=max_window_h)
    track_validator = TypeAdapter(BeidouTrackWire | list[BeidouTrackWire])

    @app.get("/national/v1/vehicles/{vehicleNumber}/{plateColor}/in-network")
    async def vehicle_in_network(vehicleNumber: str, plateColor: str) -> dict:
        return in_network.get_or_raise((vehicleNumber, plateColor), "in-network record for vehicle")

    @app.get("/national/v1/vehicles/{vehicleNumber}/{plateColor}/track")
    async def vehicle_track(vehicleNumber: str, plateColor: str, start: str, end: str) -> dict:
        t0, t1 = _parse_time("start", start), _parse_time("end", end)
        if t1 < t0:
            raise SimError(400, "BAD_WINDOW", f"end {end!r} is before start {start!r}")
        if t1 - t0 > max_window:
            raise SimError(
                400,
                "WINDOW_TOO_LONG",
                f"window {(t1 - t0).total_seconds() / 3600:.1f} h exceeds {max_window_h:g} h",
            )
        fixes = tracks.window(vehicleNumber, plateColor, epoch_us(t0), epoch_us(t1))
        track = BeidouTrack(
            vehicle_number=vehicleNumber,
            plate_color=plateColor,
            t_ms=fixes["t_us"] // 1000,
            **{k: fixes[k] for k in _COLUMNS[1:]},
        )
        return track.to_wire(start=t0, end=t1)

    @app.post("/admin/tracks")
    async def admin_tracks(body: Annotated[Any, Body()]) -> dict:
        try:
            parsed = track_validator.validate_python(body)
        except ValidationError as exc:
            raise SimError(422, "INVALID_RECORD", str(exc)) from None
        added = 0
        for wire in parsed if isinstance(parsed, list) else [parsed]:
            tr = BeidouTrack.from_wire(wire)
            added += tracks.add(
                tr.vehicle_number,
                tr.plate_color,
                {"t_us": tr.t_ms * 1000, **{k: getattr(tr, k) for k in _COLUMNS[1:]}},
            )
        return {"loaded": added, "total": len(tracks)}

    return app


def _parse_time(name: str, value: str) -> dt.datetime:
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise SimError(400, "BAD_TIME", f"{name}: {exc}") from None
