"""Plan the period's trips: which vehicle carries which shipment, where, and when.

Each trip is one waybill document (one shippingNoteNumber + serialNumber, one ``vehicleInfo``
item). Vehicles are scheduled greedily, earliest-free first, per operator, like a real fleet: a
vehicle's transport periods never overlap, and most trips follow the previous one back to back (the
next load 30 min-4 h after the last receipt, usually close to where it ended, reached by an empty
repositioning drive from the last unloading point); otherwise the vehicle rests for a while.
Genuine routes are 1.1-1.4x the straight line, some detour up to 2.5x.
The route-changing anomalies (start/end mismatch, implausible length) are decided here because
they shape the movement; the rest are applied later to finished trips.
"""

from __future__ import annotations

import heapq

import numpy as np
import shapely

from geo import outlines
from geo.distance import haversine_m
from simulation.generator.tracks import Movement, build_movement, local_to_lonlat, lonlat_to_local
from simulation.generator.world import World, heavy

__all__ = ["ROUTE_CODES", "is_heavy_tracked", "offset_point", "plan_trips", "point_inside", "trip_eligible"]

#: Anomalies that change the planned movement.
ROUTE_CODES = ("TRACK_START_MISMATCH", "TRACK_END_MISMATCH", "TRACK_LENGTH_IMPLAUSIBLE")
_BUSY_PER_TRIP_S = 6.5 * 3600
_BACK_TO_BACK_SHARE = 0.6  # share of trips that follow the vehicle's previous one within 30 min-4 h
_DETOUR_SHARE = 0.2  # share of genuine routes that detour: 1.4-2.5x the straight line
_MAX_REPOSITION_M = 150000.0  # further than this, the truck is assumed to have come by other means
_MIN_CHORD_M = 30000.0
_MAX_CHORD_M = 400000.0
_COORDS_RADIUS_M = 3000.0  # RULES.md §2: 3 km around platform-given coordinates
_DIVISION_BUFFER_M = 2000.0  # trajectories.fixes.DIVISION_BUFFER_M: a named division's outline grown by this
_ANYWHERE_SHARE = 0.5  # share of places drawn anywhere in their division's outline rather than near its centre


def offset_point(lon: float, lat: float, distance_m: float, bearing_rad: float) -> tuple[float, float]:
    """Return the point `distance_m` away from (lon, lat) towards `bearing_rad` (0 = north, clockwise)."""
    x, y = local_to_lonlat(distance_m * np.sin(bearing_rad), distance_m * np.cos(bearing_rad), lon, lat)
    return float(x), float(y)


def point_inside(rng: np.random.Generator, places, p: int, share: float = 0.3) -> tuple[float, float]:
    """Return a random point of place `p`: half the time within `share` × its radius around the division point,
    otherwise anywhere inside the division's real outline (yards lie all over a county, far from its centre too).
    """
    geom = outlines.outline(str(places.code[p]))
    if geom is not None and rng.random() < _ANYWHERE_SHARE:
        x0, y0, x1, y1 = geom.bounds
        for _ in range(64):
            lon, lat = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
            if shapely.intersects_xy(geom, lon, lat):
                return lon, lat
    # Near the centre, but in the division all the same: a gazetteer point close to a coast or a border
    # would otherwise put a genuine yard in the sea or the neighbouring county.
    for _ in range(16 if geom is not None else 1):
        r = places.radius_m[p] * share * np.sqrt(rng.random())
        pt = offset_point(float(places.lon[p]), float(places.lat[p]), r, rng.uniform(0, 2 * np.pi))
        if geom is None or shapely.intersects_xy(geom, *pt):
            return pt
    return float(places.lon[p]), float(places.lat[p])


def _named_distance_m(code: str | None, ref: tuple[float, float], lon, lat) -> np.ndarray:
    """Metres from fixes to the named place as the rule matches it: the division's outline when it has one
    (0 inside), else the reference point."""
    if code is not None:
        return np.asarray(outlines.distance_to_outline_m(code, lon, lat), dtype=np.float64)
    return np.asarray(haversine_m(lon, lat, ref[0], ref[1]), dtype=np.float64)


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    x, y = lonlat_to_local(b[0], b[1], a[0], a[1])
    return float(np.arctan2(x, y))


def _pick_unload(rng, world: World, load: int, *, out: bool, max_chord_m: float = _MAX_CHORD_M) -> int | None:
    pl = world.places
    d = pl.dist_m[load]
    lo = np.maximum(_MIN_CHORD_M, 0.9 * (pl.radius_m[load] + pl.radius_m))
    ok = (d >= lo) & (d <= max_chord_m) & (pl.home != out)
    cand = np.flatnonzero(ok)
    if cand.size == 0:
        return None
    w = np.exp(-d[cand] / 120000.0)
    return int(cand[rng.choice(cand.size, p=w / w.sum())])


def _pick_route(rng, world: World, near: tuple[float, float] | None, *, max_chord_m: float = _MAX_CHORD_M):
    pl = world.places
    home = np.flatnonzero(pl.home)
    out = rng.random() < world.config.out_of_province_share
    if near is not None and rng.random() < 0.85:
        # Trucks mostly take their next load close to where they unloaded (back-haul).
        d = haversine_m(near[0], near[1], pl.lon[home], pl.lat[home])
        close = home[d < 100000.0]
        load = int(close[rng.integers(close.size)]) if close.size else int(home[rng.integers(home.size)])
    else:
        load = int(home[rng.integers(home.size)])
    unload = _pick_unload(rng, world, load, out=out, max_chord_m=max_chord_m)
    if unload is None:
        unload = _pick_unload(rng, world, load, out=False, max_chord_m=max_chord_m)
    if out and rng.random() < 0.3:
        load, unload = unload, load  # inbound from a neighbouring province
    return load, unload


def _transfer(world: World, load: int, unload: int) -> int | None:
    """A county between `load` and `unload` where a segmented shipment changes vehicle."""
    pl = world.places
    d1, d2 = pl.dist_m[load], pl.dist_m[:, unload]
    ok = (d1 >= np.maximum(_MIN_CHORD_M, 0.9 * (pl.radius_m[load] + pl.radius_m))) & (
        d2 >= np.maximum(_MIN_CHORD_M, 0.9 * (pl.radius_m[unload] + pl.radius_m))
    )
    if not ok.any():
        return None
    detour = np.where(ok, d1 + d2 - pl.dist_m[load, unload], np.inf)
    return int(np.argmin(detour))


def trip_eligible(trip: dict, world: World) -> bool:
    """True when a trip's operator, vehicle and drivers carry no qualification/network issue at despatch."""
    t = trip["despatch_s"]
    parties = [world.operators[trip["op"]], world.vehicles[trip["veh"]]] + [
        world.drivers[d] for d in trip["drivers"]
    ]
    return trip["kind"] == "single" and all(p.get("_taint_from_s", np.inf) > t + 86400 for p in parties)


def _far_enough(mov: Movement, ref: tuple[float, float], radius_m: float, at_s: int,
                code: str | None = None) -> bool:
    t = np.arange(at_s - 2 * 3600, at_s + 2 * 3600 + 1, 30, dtype=np.float64)
    s = np.interp(t, mov.prof_t, mov.prof_s)
    lon, lat = local_to_lonlat(
        np.interp(s, mov.path_s, mov.path_x), np.interp(s, mov.path_s, mov.path_y), mov.lon0, mov.lat0
    )
    return bool(_named_distance_m(code, ref, lon, lat).min() > radius_m + 1000.0)


def _mismatch_movement(rng, world: World, trip: dict, code: str, despatch_s: int, depot_pt):
    """Move the true loading (or unloading) point just outside the place the waybill names."""
    pl = world.places
    end = "load" if code == "TRACK_START_MISMATCH" else "unload"
    p = trip[end]
    claim = trip[f"claim_{end}_pt"]
    ref, ref_r = (
        (claim, _COORDS_RADIUS_M)
        if trip["coords"]
        else ((float(pl.lon[p]), float(pl.lat[p])), float(pl.radius_m[p]))
    )
    # A named division with an outline is matched against the outline grown by the buffer (RULES.md §2).
    code = None if trip["coords"] or not outlines.has_outline(str(pl.code[p])) else str(pl.code[p])
    if code is not None:
        ref_r = _DIVISION_BUFFER_M
    other = trip["unload_pt"] if end == "load" else trip["load_pt"]
    side = 1.0 if rng.random() < 0.5 else -1.0
    delta_m = max(1500.0, 0.1 * ref_r) + rng.uniform(0.0, 2500.0)
    variant = "just_outside"
    if trip["coords"] and rng.random() < 0.5:
        # 10-20 km off the given coordinates: inside the same division, plainly not the named yard.
        variant, delta_m = "10_20_km", rng.uniform(10000.0, 20000.0) - ref_r
    cap_m = max(12000.0, delta_m)
    for _ in range(8):
        side = -side  # try both sides of the route before moving further out
        # Perpendicular to the route, so the truck does not drive through the named place either.
        bearing = _bearing(ref, other) + side * np.pi / 2 * rng.uniform(0.8, 1.2)
        actual = _outside(ref, code, ref_r + delta_m, bearing)
        load_pt, unload_pt = (actual, trip["unload_pt"]) if end == "load" else (trip["load_pt"], actual)
        dep = (
            offset_point(actual[0], actual[1], rng.uniform(3000, 8000), bearing)
            if end == "load"
            else depot_pt
        )
        mov = build_movement(
            rng,
            depot_lonlat=dep,
            load_lonlat=load_pt,
            unload_lonlat=unload_pt,
            despatch_s=despatch_s,
            length_factor=rng.uniform(1.1, 1.4),
        )
        at_s = mov.despatch_s if end == "load" else mov.receipt_s
        if _far_enough(mov, ref, ref_r, at_s, code):
            trip["load_pt"], trip["unload_pt"] = load_pt, unload_pt
            trip["detail"] = {
                "namedPoint": [round(ref[0], 6), round(ref[1], 6)],
                "namedRadiusM": round(ref_r),
                "actualPoint": [round(actual[0], 6), round(actual[1], 6)],
                "distanceFromNamedM": round(ref_r + delta_m),
                "reference": "extension coordinates" if trip["coords"] else
                             "division outline" if code is not None else "division point",
                "variant": variant,
            }
            return mov
        delta_m = min(delta_m * 1.25, cap_m)  # stay close: never more than 12 km (or the variant's) beyond
    return None


def _outside(ref: tuple[float, float], code: str | None, beyond_m: float, bearing: float) -> tuple[float, float]:
    """The point towards ``bearing`` from ``ref`` that lies ``beyond_m`` from the named place: from the point
    itself, or (a division with an outline) from the outline's edge, walking out from the division's point."""
    if code is None:
        return offset_point(ref[0], ref[1], beyond_m, bearing)
    steps = np.arange(0.0, 400_000.0, 500.0)
    lon, lat = local_to_lonlat(steps * np.sin(bearing), steps * np.cos(bearing), ref[0], ref[1])
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    d = np.asarray(outlines.distance_to_outline_m(code, lon, lat))
    k = int(np.argmax(d >= beyond_m)) if (d >= beyond_m).any() else len(steps) - 1
    return float(lon[k]), float(lat[k])


class _Planner:
    def __init__(self, rng: np.random.Generator, world: World, route_quota: dict[str, int], n_docs: int):
        self.rng, self.world = rng, world
        cfg = world.config
        self.n_docs = n_docs
        period_s = world.end_s - world.start_s
        cycle_s = cfg.vehicles * period_s / max(n_docs, 1)
        b2b_s = _BACK_TO_BACK_SHARE * 8100 + (1 - _BACK_TO_BACK_SHARE) * 4 * 3600  # mean fixed idle per trip
        self.idle_mean_s = max(900.0, 0.7 * (cycle_s - _BUSY_PER_TRIP_S - b2b_s) / (1 - _BACK_TO_BACK_SHARE))
        self.heaps: list[list] = [[] for _ in world.operators]
        self.loc: dict[int, tuple[float, float]] = {}
        for v in world.vehicles:
            p = v["_place"]
            spread_s = max(900.0, 0.7 * (cycle_s - 10.5 * 3600))  # the first trips' spread over the period
            free = world.start_s - 5400 + int(rng.exponential(min(spread_s, 86400)))
            heapq.heappush(self.heaps[v["_op"]], (free, v["_idx"]))
            self.loc[v["_idx"]] = (float(world.places.lon[p]), float(world.places.lat[p]))
        slots = {}
        for code in ROUTE_CODES:
            for k in rng.choice(
                max(int(n_docs * 0.9), 1), size=min(route_quota.get(code, 0), n_docs), replace=False
            ):
                slots.setdefault(int(k), []).append(code)
        self.slots = slots
        self.pending: list[str] = []
        self.trips: list[dict] = []
        self.group = 0
        self.no_idle = False
        self.moved: set[int] = set()  # vehicles that have made a trip (their location is a real unloading)

    def _pop(self, op: int, n: int) -> list[tuple[int, int]]:
        return [heapq.heappop(self.heaps[op]) for _ in range(min(n, len(self.heaps[op])))]

    def _despatch_after(self, free_s: int, veh: int, depot) -> int:
        """Despatch of the vehicle's next trip: ``free_s`` is its last receipt, ``depot`` where it starts from."""
        here = self.loc[veh]
        # The approach drive from the depot runs at 25-40 km/h over 1.15x the distance: budget for the slowest.
        reposition_s = 1.2 * float(haversine_m(here[0], here[1], depot[0], depot[1])) / (25 / 3.6)
        # The first trip's start is spread already (the vehicle's initial free time).
        if self.no_idle or veh not in self.moved or self.rng.random() < _BACK_TO_BACK_SHARE:
            idle_s = self.rng.uniform(1800, 4 * 3600)  # back to back: the next load 30 min-4 h later
        else:
            idle_s = 4 * 3600 + self.rng.exponential(self.idle_mean_s)
        # + 90 min: the longest loading dwell before despatch (tracks.build_movement).
        return int(free_s + reposition_s + idle_s + 90 * 60)

    def _new_trip(self, op, veh, load, unload, kind, serial, amount, *, load_pt=None) -> dict:
        rng, pl, w = self.rng, self.world.places, self.world
        cfg = w.config
        vehicle = w.vehicles[veh]
        drivers = [vehicle["_driver"]]
        if pl.dist_m[load, unload] > 250000 and vehicle.get("_codrivers") and rng.random() < 0.5:
            drivers.append(vehicle["_codrivers"][0])
        trip = {
            "op": op,
            "veh": veh,
            "drivers": drivers,
            "load": load,
            "unload": unload,
            "kind": kind,
            "serial": serial,
            "vehicle_amount": amount,
            "group": self.group,
            "code": None,
            "detail": {},
            "coords": bool(rng.random() < cfg.extension_coords_share),
            "load_pt": load_pt or point_inside(rng, pl, load),
            "unload_pt": point_inside(rng, pl, unload),
            # The driver app's sampling interval for this trip (30 s-12 min by default).
            "app_interval_s": int(rng.integers(cfg.app_interval_s[0], cfg.app_interval_s[1] + 1)),
            "app_off_u": float(rng.random()),  # < 0.1 on a BeiDou-tracked vehicle: no app at all
        }
        # A platform's geocoder lands 30-300 m from where the truck actually loads.
        trip["claim_load_pt"] = offset_point(
            *trip["load_pt"], rng.uniform(30, 300), rng.uniform(0, 2 * np.pi)
        )
        trip["claim_unload_pt"] = offset_point(
            *trip["unload_pt"], rng.uniform(30, 300), rng.uniform(0, 2 * np.pi)
        )
        return trip

    def _finish(self, trip: dict, free_s: int, code: str | None = None) -> bool:
        """Build the movement (with a route anomaly if `code`), check it fits the period, record it."""
        rng, w = self.rng, self.world
        # The truck waits a few km away, still inside the loading division, before driving in to load...
        depot_m = min(rng.uniform(3000, 8000), rng.uniform(0.3, 0.6) * float(w.places.radius_m[trip["load"]]))
        depot = offset_point(*trip["load_pt"], depot_m, rng.uniform(0, 2 * np.pi))
        # ... unless it comes straight from its last unloading point (empty repositioning).
        here = self.loc[trip["veh"]]
        if trip["veh"] in self.moved and haversine_m(here[0], here[1], *trip["load_pt"]) < _MAX_REPOSITION_M:
            depot = here
        # Budget the drive to where the movement begins, and when it begins at the last unloading point, the
        # drive on to the loading point too: the approach may be 150 km, and a truck that left before its last
        # trip ended would be in two places at once (its BeiDou would jump tens of km in seconds).
        budget_to = trip["load_pt"] if depot == here else depot
        despatch_s = max(self._despatch_after(free_s, trip["veh"], budget_to), trip.pop("_not_before", 0))
        if code == "TRACK_START_MISMATCH":
            # The rule looks ±2 h around the despatch: the truck's previous trip (often unloaded in the very
            # division now named) must be over by then, or the label would not hold in the data.
            despatch_s = max(despatch_s, free_s + int(2.75 * 3600))

        def movement(length_factor: float):
            return build_movement(
                rng,
                depot_lonlat=depot,
                load_lonlat=trip["load_pt"],
                unload_lonlat=trip["unload_pt"],
                despatch_s=despatch_s,
                length_factor=length_factor,
            )

        mov = None
        if code in ("TRACK_START_MISMATCH", "TRACK_END_MISMATCH"):
            mov = _mismatch_movement(rng, w, trip, code, despatch_s, depot)
        elif code == "TRACK_LENGTH_IMPLAUSIBLE":
            mov = movement(rng.uniform(3.4, 4.2))
            chord = float(w.places.dist_m[trip["load"], trip["unload"]])
            # The rule measures from where the truck is seen loading and unloading (or the given coordinates):
            # the yards, which lie anywhere in their divisions, not the divisions' centres.
            straight = float(haversine_m(*trip["load_pt"], *trip["unload_pt"]))
            trip["detail"] = {
                "routeLengthM": round(mov.length_m),
                "divisionDistanceM": round(chord),
                "straightM": round(straight),
                "ratio": round(mov.length_m / max(straight, 1.0), 2),
            }
        if mov is None:
            code = None
            detour = rng.random() < _DETOUR_SHARE
            factor = rng.uniform(1.4, 2.5) if detour else rng.uniform(1.1, 1.4)
            trip["length_factor"] = round(float(factor), 3)
            mov = movement(factor)
        if mov.end_s > w.end_s:
            return False
        trip["code"] = code
        trip["mov"] = mov
        trip["despatch_s"], trip["receipt_s"] = mov.despatch_s, mov.receipt_s
        trip["id"] = len(self.trips)
        self.trips.append(trip)
        return True

    def _release(self, op: int, veh: int, trip: dict | None) -> None:
        if trip is None:
            return  # the vehicle's next trip would not fit in the period: it retires
        # After an unloading outside the named division the truck stays put for the rule's 2 h: its next
        # approach drive (back-hauls start near the last unloading) must not pass through the named division
        # within the time the rule looks at, or the END_MISMATCH label would not hold in the data.
        rest = int(2.5 * 3600) if trip.get("code") == "TRACK_END_MISMATCH" else 0
        heapq.heappush(self.heaps[op], (trip["receipt_s"] + rest, veh))
        self.loc[veh] = trip["unload_pt"]
        self.moved.add(veh)

    def run(self) -> list[dict]:
        rng, w = self.rng, self.world
        cfg = w.config
        sizes = np.array([len(h) for h in self.heaps], dtype=np.float64)
        made = 0
        while made < self.n_docs:
            alive = np.array([len(h) > 0 for h in self.heaps])
            if not alive.any():
                break
            p = np.where(alive, sizes, 0.0)
            op = int(rng.choice(len(self.heaps), p=p / p.sum()))
            for code in self.slots.pop(made, []):
                self.pending.append(code)
            u = rng.random()
            remaining = self.n_docs - made
            if u < cfg.multi_vehicle_share and remaining >= 2 and len(self.heaps[op]) >= 2:
                made += self._multi(op, min(int(rng.integers(2, 5)), remaining, len(self.heaps[op])))
            elif (
                u < cfg.multi_vehicle_share + cfg.segmented_share
                and remaining >= 2
                and len(self.heaps[op]) >= 2
            ):
                made += self._segmented(op)
            else:
                made += self._single(op)
        return self.trips

    def _single(self, op: int) -> int:
        rng, w = self.rng, self.world
        ((free_s, veh),) = self._pop(op, 1)
        code = self.pending[0] if self.pending else None
        max_chord = 200000.0 if code == "TRACK_LENGTH_IMPLAUSIBLE" else _MAX_CHORD_M
        for _ in range(2):
            load, unload = _pick_route(rng, w, self.loc[veh], max_chord_m=max_chord)
            self.group += 1
            trip = self._new_trip(op, veh, load, unload, "single", "0000", 1)
            trip["despatch_s"] = free_s + 4 * 3600  # provisional, for the eligibility check
            if code is not None and not trip_eligible(trip, w):
                code = None
            ok = self._finish(trip, free_s, code)
            if ok:
                break
            # Near the end of the period: one more try with a short hop and no idle time.
            max_chord, self.no_idle = 80000.0, True
        self.no_idle = False
        if ok and trip["code"] is not None:
            self.pending.remove(trip["code"])
        self._release(op, veh, trip if ok else None)
        return int(ok)

    def _multi(self, op: int, n: int) -> int:
        rng, w = self.rng, self.world
        popped = self._pop(op, n)
        free_s = max(f for f, _ in popped)
        load, unload = _pick_route(rng, w, self.loc[popped[0][1]])
        self.group += 1
        first_load = point_inside(rng, w.places, load)
        # The vehicles of one shipment load at the same yard within about 40 minutes of each other.
        base_s = self._despatch_after(free_s, popped[0][1], first_load)
        made = 0
        self.no_idle = True
        for i, (_, veh) in enumerate(popped):
            near = offset_point(*first_load, rng.uniform(20, 150), rng.uniform(0, 2 * np.pi))
            trip = self._new_trip(op, veh, load, unload, "multi", f"{i + 1:02d}00", n, load_pt=near)
            trip["group"] = self.group
            trip["_not_before"] = base_s + int(rng.integers(0, 41)) * 60
            ok = self._finish(trip, free_s)
            made += ok
            self._release(op, veh, trip if ok else None)
        self.no_idle = False
        self._renumber_group(n)
        self.group += 1
        return made

    def _segmented(self, op: int) -> int:
        rng, w = self.rng, self.world
        (f1, v1), (f2, v2) = self._pop(op, 2)
        for _ in range(5):
            load, unload = _pick_route(rng, w, self.loc[v1])
            mid = _transfer(w, load, unload)
            if mid is not None and w.places.dist_m[load, unload] > 100000:
                break
        else:
            mid = None
        if mid is None:
            heapq.heappush(self.heaps[op], (f2, v2))
            self.group += 1
            t = self._new_trip(op, v1, load, unload, "single", "0000", 1)
            ok = self._finish(t, f1)
            self._release(op, v1, t if ok else None)
            return int(ok)
        self.group += 1
        t1 = self._new_trip(op, v1, load, mid, "segment", "0001", 2)
        ok1 = self._finish(t1, f1)
        self._release(op, v1, t1 if ok1 else None)
        if not ok1:
            heapq.heappush(self.heaps[op], (f2, v2))
            return 0
        t2 = self._new_trip(
            op,
            v2,
            mid,
            unload,
            "segment",
            "0002",
            2,
            load_pt=offset_point(*t1["unload_pt"], rng.uniform(20, 200), rng.uniform(0, 2 * np.pi)),
        )
        t2["_not_before"] = t1["receipt_s"] + int(rng.uniform(0.5, 3.0) * 3600)
        self.no_idle = True  # the second vehicle takes over within hours, not days
        ok2 = self._finish(t2, f2)
        self.no_idle = False
        self._release(op, v2, t2 if ok2 else None)
        if not ok2:
            t1["kind"], t1["serial"], t1["vehicle_amount"] = "single", "0000", 1
        self.group += 1
        return 1 + int(ok2)

    def _renumber_group(self, n: int) -> None:
        """Number the vehicles of a multi-vehicle group that fitted in the period (0100, 0200, ...)."""
        group = [t for t in self.trips[-n:] if t["group"] == self.group]
        for i, t in enumerate(group):
            t["vehicle_amount"] = len(group)
            t["serial"] = f"{i + 1:02d}00" if len(group) > 1 else "0000"
            if len(group) == 1:
                t["kind"] = "single"


def plan_trips(
    rng: np.random.Generator, world: World, *, n_docs: int, route_quota: dict[str, int]
) -> list[dict]:
    """Schedule `n_docs` waybill trips over the period.

    Parameters
    ----------
    rng : numpy.random.Generator
    world : World
    n_docs : int
        Number of trips (= waybill documents) to plan; fewer come back only if the fleet is full.
    route_quota : dict
        How many trips get each of :data:`ROUTE_CODES`.

    Returns
    -------
    list of dict
        Trips in planning order, each with its :class:`~simulation.generator.tracks.Movement` under ``"mov"``.
    """
    return _Planner(rng, world, route_quota, n_docs).run()


def is_heavy_tracked(world: World, trip: dict) -> bool:
    """True when the national platform has BeiDou fixes for the trip's vehicle."""
    v = world.vehicles[trip["veh"]]
    return heavy(v) and v["_network"]["inNetwork"]
