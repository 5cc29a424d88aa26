"""Sample every trip's movement as BeiDou (WGS-84, 30 s) and driver-app (GCJ-02 or BD-09, 30 s-12 min) fixes.

Like a real fleet: BeiDou exists for heavy vehicles in the national platform only and runs continuously,
also between trips (each trip's BeiDou runs from the hand-over with the vehicle's previous trip to the one
with its next: halfway between a receipt and the next approach); the driver app reports only while the
waybill is open (a fix at despatch, one every 30 s-12 min, one at receipt), in GCJ-02 or BD-09 depending on
the platform's app (:func:`app_crs`). Some BeiDou-tracked trips have no app at all.

BeiDou fixes go to one columnar table (``beidou.parquet``); app fixes become WLHY_WZ1001 messages
of at most 10,000 locations, one "start" message up to despatch, "send" messages every 1-2 hours
and a final "stop".
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from etl.adapters.records import TRACK_PARQUET_COLUMNS
from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.distance import haversine_m
from simulation.generator.timefmt import wire_datetime, wire_datetimes
from simulation.generator.tracks import Samples, local_to_lonlat, lonlat_to_local, sample_movement
from simulation.generator.world import World

__all__ = ["BEIDOU_COLUMNS", "NO_APP_SHARE", "app_crs", "app_messages", "beidou_table", "beidou_windows",
           "sample_trips"]

#: Share of BeiDou-tracked trips whose driver never opens the app (BeiDou only).
NO_APP_SHARE = 0.1


def app_crs(op: int) -> str:
    """The coordinate system of operator ``op``'s driver app: every third platform's app speaks BD-09."""
    return "BD09" if op % 3 == 2 else "GCJ02"


def beidou_windows(trips: list[dict]) -> dict[int, tuple[int, int]]:
    """Each planned trip's BeiDou sampling window: continuous per vehicle, cut at the hand-overs.

    Extra trips (``"source"`` in the trip: copies, overlaps, duplicates) are not in the vehicle's schedule.
    """
    by_veh: dict[int, list[dict]] = {}
    for t in trips:
        if "source" not in t and t.get("mov") is not None:
            by_veh.setdefault(t["veh"], []).append(t)
    out: dict[int, tuple[int, int]] = {}
    for ts in by_veh.values():
        ts.sort(key=lambda t: t["mov"].despatch_s)
        starts = [ts[0]["mov"].start_s]
        ends = []
        for a, b in zip(ts[:-1], ts[1:]):
            ma, mb = a["mov"], b["mov"]
            leave = int(mb.prof_t[1])  # b leaves its depot (= a's unloading point when back to back)
            here = local_to_lonlat(ma.path_x[-1], ma.path_y[-1], ma.lon0, ma.lat0)
            there = local_to_lonlat(mb.path_x[0], mb.path_y[0], mb.lon0, mb.lat0)
            if haversine_m(float(here[0]), float(here[1]), float(there[0]), float(there[1])) <= 1000.0:
                cut = max(ma.receipt_s, (ma.receipt_s + leave) // 2)
                ends.append(cut)
                starts.append(cut)
            else:
                # The truck got to its next depot some other way (not simulated): the terminal is off meanwhile,
                # for at least the drive there at 60 km/h (a terminal that reappeared 30 km away a few seconds
                # later would be a teleport, an impossible speed on a genuine vehicle).
                drive_s = int(haversine_m(float(here[0]), float(here[1]), float(there[0]), float(there[1]))
                              / (60 / 3.6))
                resume = min(mb.start_s, leave - 1800)
                off = max(ma.receipt_s, min(ma.end_s, ma.receipt_s + 1800, resume - drive_s))
                ends.append(off)
                starts.append(max(off + drive_s + 1, resume))
        ends.append(ts[-1]["mov"].end_s)
        for t, a, b in zip(ts, starts, ends):
            out[t["id"]] = (a, max(b, a + 1))
    return out

#: Column names of ``beidou.parquet`` (what the national-platform simulator loads).
BEIDOU_COLUMNS = TRACK_PARQUET_COLUMNS
_MAX_LOCATIONS = 10_000


def sample_trips(
    rng: np.random.Generator, world: World, trips: list[dict], tracked: set[int], *, on_trip=None
) -> None:
    """Sample BeiDou (tracked trips) and app fixes of every trip into ``trip["beidou"]`` and ``trip["app"]``.

    Copied tracks (``effects["copy_app_from"]``) are made from their source's app fixes, so sources
    must come first in `trips` (they do: extras are appended after planning). `on_trip` is called
    once per trip (progress reporting).
    """
    cfg = world.config
    windows = beidou_windows(trips)
    copied = {t["effects"]["copy_app_from"] for t in trips if "copy_app_from" in t.get("effects", {})}
    for trip in trips:
        if on_trip is not None:
            on_trip()
        eff = trip.get("effects", {})
        trip["beidou"], trip["app"] = None, None
        if eff.get("no_samples") or trip.get("mov") is None:
            continue
        mov = trip["mov"]
        drop = eff.get("drop", [])
        # No random signal loss on top of a track anomaly: it could swallow the injected segment.
        gap = 0.0 if (drop or "shifts_app" in eff or "shifts_beidou" in eff) else 1.0
        if trip["id"] in tracked and trip["id"] in windows:
            trip["beidou"] = sample_movement(
                rng,
                mov,
                source="beidou",
                interval_s=cfg.beidou_interval_s,
                noise_m=float(rng.uniform(3, 8)),
                outlier_rate=0.001,
                gap_prob=0.25 * gap,
                duplicate_rate=0.002,
                drop=drop,
                shifts=eff.get("shifts_beidou", []),
                window=windows[trip["id"]],
            )
        if "copy_app_from" in eff:
            trip["app"] = _copy(
                rng, trips[eff["copy_app_from"]]["app"], eff["copy_shift_s"], eff["copy_keep"], mov
            )
            _label_thinning(trip)
            continue
        if trip["beidou"] is not None and trip.get("app_off_u", 1.0) < NO_APP_SHARE and not _needs_app(eff) and trip["id"] not in copied:
            trip["no_app"] = True
            continue
        # The app reports only while the waybill is open: from despatch to receipt.
        window = (mov.despatch_s, mov.receipt_s)
        base = int(trip.get("app_interval_s") or rng.integers(cfg.app_interval_s[0], cfg.app_interval_s[1] + 1))
        trip["app"] = sample_movement(
            rng,
            mov,
            source="app",
            interval_s=(base, base),
            with_ends=True,
            noise_m=float(rng.uniform(4, 10)),
            outlier_rate=0.003,
            gap_prob=0.1 * gap,
            duplicate_rate=0.003,
            drop=drop,
            shifts=eff.get("shifts_app", []),
            window=window,
        )


def _needs_app(eff: dict) -> bool:
    return bool(eff.get("shifts_app") or "copy_app_from" in eff)


def _label_thinning(trip: dict) -> None:
    """What a thinned copy of a sparse app track may also show, added to its truth's ``alsoExpected``.

    Dropping a quarter of fixes 10 min apart leaves holes over 30 min (low coverage) and can drop the only fixes
    at the loading or unloading yard (start / end mismatch): the data the copy's platform sent really shows that.
    """
    app = trip.get("app")
    if app is None or app.t.size == 0:
        return
    also = list(trip["detail"].get("alsoExpected", []))
    d, r = trip["despatch_s"], trip["receipt_s"]
    t = np.sort(app.t[(app.t >= d) & (app.t <= r)])
    if np.diff(np.concatenate([[d], t, [r]])).max() > 1800:
        also.append("TRACK_LOW_COVERAGE")
    for code, pt, at in (("TRACK_START_MISMATCH", trip["load_pt"], d), ("TRACK_END_MISMATCH", trip["unload_pt"], r)):
        near = np.abs(app.t - at) <= 7200
        if not near.any() or haversine_m(app.lon[near], app.lat[near], pt[0], pt[1]).min() > 1500.0:
            also.append(code)
    if also:
        trip["detail"]["alsoExpected"] = sorted(set(also))


def _copy(rng: np.random.Generator, src: Samples | None, shift_s: int, keep: float, mov) -> Samples | None:
    """A forged track: a random `keep` share of `src`'s fixes, `shift_s` later, with 3-8 m of fresh noise."""
    if src is None:
        return None
    mask = rng.random(src.t.size) < keep
    x, y = lonlat_to_local(src.lon[mask], src.lat[mask], mov.lon0, mov.lat0)
    noise = float(rng.uniform(3, 8))
    lon, lat = local_to_lonlat(
        x + rng.normal(0, noise, x.size), y + rng.normal(0, noise, x.size), mov.lon0, mov.lat0
    )
    return Samples(
        src.t[mask] + shift_s,
        lon,
        lat,
        src.speed_kmh[mask],
        src.direction[mask],
        src.altitude[mask],
        src.accuracy_m[mask],
    )


def beidou_table(world: World, trips: list[dict]) -> pa.Table:
    """Concatenate the BeiDou fixes of all trips into the ``beidou.parquet`` table, sorted by vehicle, t."""
    parts = [(t["veh"], t["beidou"]) for t in trips if t.get("beidou") is not None and t["beidou"].t.size]
    plates = [v["vehicleNumber"] for v in world.vehicles]
    colours = [v["vehiclePlateColorCode"] for v in world.vehicles]
    if not parts:
        veh = np.zeros(0, dtype=np.int64)
        cols = {k: np.zeros(0) for k in ("t", "lon", "lat", "speed", "direction", "altitude")}
    else:
        veh = np.concatenate([np.full(s.t.size, v, dtype=np.int64) for v, s in parts])
        cols = {
            "t": np.concatenate([s.t for _, s in parts]).astype(np.int64),
            "lon": np.concatenate([s.lon for _, s in parts]),
            "lat": np.concatenate([s.lat for _, s in parts]),
            "speed": np.concatenate([s.speed_kmh for _, s in parts]),
            "direction": np.concatenate([s.direction for _, s in parts]),
            "altitude": np.concatenate([s.altitude for _, s in parts]),
        }
    rank = np.empty(len(plates), dtype=np.int64)
    rank[np.argsort(np.array(plates, dtype=object), kind="stable")] = np.arange(len(plates))
    order = np.lexsort((cols["t"], rank[veh])) if veh.size else np.zeros(0, dtype=np.int64)
    veh = veh[order]
    plate_arr = pa.array(plates, type=pa.string()).take(pa.array(veh))
    colour_arr = pa.array(colours, type=pa.string()).take(pa.array(veh))
    arrays = (
        plate_arr,
        colour_arr,
        pa.array(cols["t"][order] * 1_000_000, type=pa.timestamp("us", tz="UTC")),
        pa.array(np.round(cols["lon"][order], 7), type=pa.float64()),
        pa.array(np.round(cols["lat"][order], 7), type=pa.float64()),
        pa.array(np.round(cols["speed"][order], 1), type=pa.float32()),
        pa.array(np.round(cols["direction"][order], 1), type=pa.float32()),
        pa.array(np.round(cols["altitude"][order], 1), type=pa.float32()),
    )
    return pa.table(dict(zip(BEIDOU_COLUMNS, arrays, strict=True)))


def app_messages(
    rng: np.random.Generator, trip: dict, header: dict, *, message_min: tuple[int, int] = (240, 480),
    crs: str = "GCJ02",
) -> list[tuple[str, dict]]:
    """Split a trip's app fixes into WLHY_WZ1001 payloads; return ``(sendAt, payload)`` pairs.

    Parameters
    ----------
    rng : numpy.random.Generator
    trip : dict
        A sampled trip (``trip["app"]``).
    header : dict
        vehicleNumber, vehiclePlateColorCode, driverName, drivingLicense, shippingNoteInfos.
    crs : {"GCJ02", "BD09"}
        The app's coordinate system (:func:`app_crs`).
    """
    s: Samples | None = trip.get("app")
    if s is None or s.t.size == 0:
        return []
    glon, glat = wgs84_to_bd09(s.lon, s.lat) if crs == "BD09" else wgs84_to_gcj02(s.lon, s.lat)
    stamps = wire_datetimes(s.t)
    idx = np.arange(s.t.size)
    # A few fixes arrive out of order (the SDK flushes its buffer after a reconnect).
    swap = np.flatnonzero(rng.random(s.t.size - 1) < 0.005) if s.t.size > 1 else np.zeros(0, dtype=np.int64)
    swap = swap[np.diff(np.concatenate([[-2], swap])) > 1]  # disjoint pairs only
    idx[swap], idx[swap + 1] = idx[swap + 1], idx[swap]
    cuts = [0]
    despatch = trip["mov"].despatch_s
    first = int(np.searchsorted(s.t, despatch, side="right"))
    if 0 < first < s.t.size:
        cuts.append(first)
    step_s = int(rng.integers(message_min[0], message_min[1] + 1)) * 60
    t_next = (s.t[cuts[-1]] if cuts[-1] < s.t.size else s.t[-1]) + step_s
    for k in range(cuts[-1], s.t.size):
        if s.t[k] >= t_next or k - cuts[-1] >= _MAX_LOCATIONS:
            cuts.append(k)
            t_next = s.t[k] + step_s
    cuts.append(s.t.size)
    lon_l = np.round(glon, 6).tolist()
    lat_l = np.round(glat, 6).tolist()
    spd_l = np.round(s.speed_kmh, 1).tolist()
    dir_l = np.round(s.direction, 1).tolist()
    alt_l = np.round(s.altitude, 1).tolist()
    acc_l = np.round(s.accuracy_m, 1).tolist()
    stamp_l = stamps.tolist()
    out = []
    bounds = [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
    for m, (a, b) in enumerate(bounds):
        event = "start" if m == 0 else ("stop" if m == len(bounds) - 1 else "send")
        locs = [
            {
                "dateTime": stamp_l[i],
                "longitude": lon_l[i],
                "latitude": lat_l[i],
                "speed": spd_l[i],
                "direction": dir_l[i],
                "altitude": alt_l[i],
                "accuracy": acc_l[i],
            }
            for i in idx[a:b].tolist()
        ]
        send_s = int(s.t[a:b].max()) + int(rng.integers(5, 121))
        out.append(
            (
                wire_datetime(send_s),
                {**header, "event": event, "coordinateSystem": crs, "locations": locs},
            )
        )
    return out
