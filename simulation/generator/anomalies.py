"""Choose which parties and trips carry which anomaly of spec/RULES.md §1, and label them.

Party-level anomalies (operator permit, vehicle certificate, network registration, driver
certificate and licence, ID checksum) are set on the world before scheduling, so the planner
knows which trips are clean. Trip-level anomalies are assigned to clean single-vehicle trips
afterwards; three of them add documents (a copied track, a duplicate waybill, an overlapping
waybill). Each anomaly targets a different document, so every label has one cause.

Choice documented for ``MATCH_CASH_OR_REUSED_SERIAL``: the payment-means table has no cash code
(code 9 explicitly excludes cash), so the generator injects the other half of the rule — one bank
``sequenceCode`` paying two unrelated waybills — and labels both waybills.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from geo.distance import haversine_m
from simulation.generator import names
from simulation.generator.schedule import offset_point, point_inside
from simulation.generator.world import World, heavy, needs_certificate

__all__ = ["EXTRA_CODES", "TRIP_CODES", "assign_trip_anomalies", "inject_party_anomalies", "quota"]

#: Codes whose labelled document is an extra waybill built from a clean source trip.
EXTRA_CODES = ("TRACK_DUPLICATED", "DUPLICATE_WAYBILL", "TRACK_VEHICLE_OVERLAP")
#: Codes assigned to existing clean trips after scheduling.
TRIP_CODES = (
    "TRACK_MISSING",
    "TRACK_LOW_COVERAGE",
    "TRACK_IMPOSSIBLE_SPEED",
    "TRACK_SOURCE_CONFLICT",
    "INTAKE_LATE",
    "INTAKE_TIME_ORDER",
    "INTAKE_UNKNOWN_PARTY",
    "MATCH_NO_FUND_FLOW",
    "MATCH_AMOUNT",
    "MATCH_PARTY",
    "MATCH_CASH_OR_REUSED_SERIAL",
)


def quota(rate: float, n: int) -> int:
    """Number of targets for a code: ``round(rate * n)``, at least 1 when the rate is positive."""
    return 0 if rate <= 0 or n <= 0 else max(1, int(round(rate * n)))


def _ymd(s: str) -> dt.date:
    return dt.datetime.strptime(s, "%Y%m%d").date()


def _epoch(world: World, day: dt.date) -> int:
    return world.start_s + (day - world.config.start).days * 86400


def _choose(rng: np.random.Generator, pool: list[int], n: int, used: set[int]) -> list[int]:
    cand = [i for i in pool if i not in used]
    if not cand or n <= 0:
        return []
    picked = sorted(int(cand[i]) for i in rng.choice(len(cand), size=min(n, len(cand)), replace=False))
    used.update(picked)
    return picked


def _vehicle_key(v: dict) -> dict:
    return {"vehicleNumber": v["vehicleNumber"], "vehiclePlateColorCode": v["vehiclePlateColorCode"]}


def inject_party_anomalies(rng: np.random.Generator, world: World) -> list[dict]:
    """Break some operators', vehicles' and drivers' qualifications; return their ground-truth lines.

    Sets ``_taint_from_s`` (epoch seconds from which the party is anomalous) on every broken party.
    """
    cfg, rates = world.config, world.config.anomaly_rates
    ops, vehicles, drivers = world.operators, world.vehicles, world.drivers
    mid = lambda: cfg.start + dt.timedelta(days=max(1, int(cfg.days * rng.uniform(0.3, 0.7))))  # noqa: E731
    truth: list[dict] = []

    n_ops = min(quota(rates["QUAL_OPERATOR_PERMIT"], len(ops)), max(1, len(ops) // 4))
    for k, i in enumerate(_choose(rng, list(range(len(ops))), n_ops, set())):
        op, variant = ops[i], ("expired", "revoked", "missing")[k % 3]
        if variant == "expired":
            until = mid()
            op["_permit"]["validTo"] = until.strftime("%Y%m%d")
            op["_taint_from_s"] = _epoch(world, until + dt.timedelta(days=1))
        else:
            op["_permit"]["status" if variant == "revoked" else "inRegistry"] = (
                "revoked" if variant == "revoked" else False
            )
            op["_taint_from_s"] = world.start_s
        truth.append(
            {
                "code": "QUAL_OPERATOR_PERMIT",
                "kind": "operator",
                "operator": op["unifiedSocialCreditIdentifier"],
                "key": {"unifiedSocialCreditIdentifier": op["unifiedSocialCreditIdentifier"]},
                "detail": {"variant": variant, "permitNumber": op["permitNumber"], **op["_permit"]},
            }
        )

    used_v: set[int] = set()
    certified = [v["_idx"] for v in vehicles if needs_certificate(v)]
    for k, i in enumerate(_choose(rng, certified, quota(rates["QUAL_VEHICLE_CERT"], len(vehicles)), used_v)):
        v, variant = vehicles[i], ("placeholder", "revoked", "expired", "missing")[k % 4]
        cert = v["_cert"]
        if variant == "placeholder":
            v["roadTransportCertificateNumber"] = v["roadTransportCertificateNumber"][:6] + "000000"
            cert["inRegistry"] = False
        elif variant == "revoked":
            cert["status"] = "revoked"
        elif variant == "expired":
            until = cfg.start - dt.timedelta(days=int(rng.integers(5, 200)))
            cert["validFrom"] = (until - dt.timedelta(days=365 * 6)).strftime("%Y%m%d")
            cert["validTo"] = until.strftime("%Y%m%d")
        else:
            cert["inRegistry"] = False
        v["_taint_from_s"] = world.start_s
        truth.append(
            _vehicle_truth(
                world,
                v,
                "QUAL_VEHICLE_CERT",
                {
                    "variant": variant,
                    "grossMass": v["grossMass"],
                    "roadTransportCertificateNumber": v["roadTransportCertificateNumber"],
                    **{k2: cert[k2] for k2 in ("validFrom", "validTo", "status", "inRegistry")},
                },
            )
        )

    tracked = [v["_idx"] for v in vehicles if heavy(v)]
    for i in _choose(rng, tracked, quota(rates["VEHICLE_NOT_IN_NETWORK"], len(vehicles)), used_v):
        v = vehicles[i]
        v["_network"] = {"inNetwork": False, "since": None}
        v["_taint_from_s"] = world.start_s
        truth.append(
            _vehicle_truth(
                world,
                v,
                "VEHICLE_NOT_IN_NETWORK",
                {"vehicleType": v["vehicleType"], "grossMass": v["grossMass"]},
            )
        )

    used_d: set[int] = set()
    clean_vehicle_driver = [v["_driver"] for v in vehicles if v["_idx"] not in used_v]
    cert_drivers = [v["_driver"] for v in vehicles if v["_idx"] not in used_v and needs_certificate(v)]
    for k, d in enumerate(_choose(rng, cert_drivers, quota(rates["QUAL_DRIVER_CERT"], len(drivers)), used_d)):
        drv, variant = drivers[d], ("placeholder", "revoked", "expired")[k % 3]
        if variant == "placeholder":
            drv["qualificationCertificate"] = drv["drivingLicense"][:6] + "000000000000"
            drv["_qual"]["inRegistry"] = False
        elif variant == "revoked":
            drv["_qual"]["status"] = "revoked"
        else:
            until = cfg.start - dt.timedelta(days=int(rng.integers(5, 300)))
            drv["_qual"]["validFrom"] = (until - dt.timedelta(days=365 * 6)).strftime("%Y%m%d")
            drv["_qual"]["validTo"] = until.strftime("%Y%m%d")
        drv["_taint_from_s"] = world.start_s
        truth.append(
            _driver_truth(
                world,
                drv,
                "QUAL_DRIVER_CERT",
                {
                    "variant": variant,
                    **drv["_qual"],
                    "qualificationCertificate": drv["qualificationCertificate"],
                },
            )
        )

    tractor_drivers = [
        v["_driver"] for v in vehicles if v["_idx"] not in used_v and v["vehicleType"].startswith("Q1")
    ]
    n_lic = quota(rates["QUAL_DRIVER_LICENSE"], len(drivers))
    picked = _choose(rng, clean_vehicle_driver, n_lic, used_d)
    for k, d in enumerate(picked):
        drv = drivers[d]
        variant = "wrong_class" if (k % 2 == 1 and d in tractor_drivers) else "expired"
        if variant == "expired":
            until = mid()
            drv["validPeriodTo"] = until.strftime("%Y%m%d")
            drv["validPeriodFrom"] = (until - dt.timedelta(days=365 * 6)).strftime("%Y%m%d")
            drv["_taint_from_s"] = _epoch(world, until + dt.timedelta(days=1))
        else:
            drv["vehicleClass"] = "B2"  # a tractor (Q1x) needs A2
            drv["_taint_from_s"] = world.start_s
        truth.append(
            _driver_truth(
                world,
                drv,
                "QUAL_DRIVER_LICENSE",
                {
                    "variant": variant,
                    "vehicleClass": drv["vehicleClass"],
                    "validPeriodTo": drv["validPeriodTo"],
                    "vehicleType": vehicles[drv["_vehicle"]]["vehicleType"],
                },
            )
        )

    for d in _choose(rng, clean_vehicle_driver, quota(rates["QUAL_ID_CHECKSUM"], len(drivers)), used_d):
        drv = drivers[d]
        old = drv["drivingLicense"]
        new = names.id_number(rng, old[:6], valid=False)
        new = old[:17] + new[17] if new[17] != old[17] else old[:17] + ("0" if old[17] != "0" else "1")
        drv["drivingLicense"] = new
        if drv["qualificationCertificate"] == old:
            drv["qualificationCertificate"] = new
        carrier = vehicles[drv["_vehicle"]]["_carrier"]
        if carrier["actualCarrierId"] == old:
            carrier["actualCarrierId"] = new
        drv["_taint_from_s"] = world.start_s
        truth.append(
            _driver_truth(
                world,
                drv,
                "QUAL_ID_CHECKSUM",
                {"field": "drivingLicense", "value": new, "validCheckChar": old[17]},
            )
        )
    return truth


def _vehicle_truth(world: World, v: dict, code: str, detail: dict) -> dict:
    return {
        "code": code,
        "kind": "vehicle",
        "operator": world.operators[v["_op"]]["unifiedSocialCreditIdentifier"],
        "key": _vehicle_key(v),
        "detail": detail,
    }


def _driver_truth(world: World, drv: dict, code: str, detail: dict) -> dict:
    op = world.operators[world.vehicles[drv["_vehicle"]]["_op"]]
    return {
        "code": code,
        "kind": "driver",
        "operator": op["unifiedSocialCreditIdentifier"],
        "key": {"drivingLicense": drv["drivingLicense"]},
        "detail": detail,
    }


def _window(trip: dict) -> tuple[int, int]:
    """The trip's transport period [despatch, receipt]: coverage is measured over it (RULES.md §2)."""
    return trip["despatch_s"], trip["receipt_s"]


def assign_trip_anomalies(
    rng: np.random.Generator,
    world: World,
    trips: list[dict],
    counts: dict[str, int],
    eligible: list[int],
    tracked: set[int],
) -> list[dict]:
    """Give clean trips their anomaly (``trip["code"]`` + effects) and append the extra trips.

    Parameters
    ----------
    rng : numpy.random.Generator
    world : World
    trips : list of dict
        Planned trips; extra trips are appended in place.
    counts : dict
        Number of targets per code of :data:`TRIP_CODES` and :data:`EXTRA_CODES`, and ``INTAKE_REJECTED``
        (stored as ``trip["rejected"]``, independent of ``trip["code"]``).
    eligible : list of int
        Indices of clean single-vehicle trips that may receive an anomaly.
    tracked : set of int
        Indices of trips whose vehicle has BeiDou fixes.

    Returns
    -------
    list of dict
        The extra trips (already appended to `trips`).
    """
    used: set[int] = set()
    # Structural anomalies first: each needs a clean source trip, and they are the rarest kind.
    extras: list[dict] = []
    busy = _vehicle_busy(trips)
    for code in EXTRA_CODES:
        for i in _choose(rng, eligible, counts.get(code, 0), used):
            extra = _make_extra(rng, world, trips, code, trips[i], busy)
            if extra is None:  # no free vehicle or place: a duplicate waybill keeps the document count
                extra = _make_extra(rng, world, trips, "DUPLICATE_WAYBILL", trips[i], busy)
            if extra is not None:
                extra["id"] = len(trips)
                trips.append(extra)
                extras.append(extra)
    for code in ("TRACK_SOURCE_CONFLICT",):
        for i in _choose(rng, [i for i in eligible if i in tracked], counts.get(code, 0), used):
            _set_conflict(rng, trips[i])
    for code in TRIP_CODES:
        if code == "TRACK_SOURCE_CONFLICT":
            continue
        n = counts.get(code, 0)
        if code == "MATCH_CASH_OR_REUSED_SERIAL":
            picked = _choose(rng, eligible, 2 * n, used)
            for a, b in zip(picked[0::2], picked[1::2]):
                trips[a]["code"], trips[a]["detail"] = code, {"role": "reuser", "pairedWith": b}
                trips[b]["code"], trips[b]["detail"] = code, {"role": "original", "pairedWith": a}
            continue
        for k, i in enumerate(_choose(rng, eligible, n, used)):
            trip = trips[i]
            trip["code"] = code
            if code == "TRACK_LOW_COVERAGE":
                _set_low_coverage(rng, trip)
            elif code == "TRACK_IMPOSSIBLE_SPEED":
                _set_teleport(rng, trip, i in tracked)
            elif code == "TRACK_MISSING":
                trip["effects"] = {"no_samples": True}
                trip["detail"] = {"sources": "none"}
            elif code == "INTAKE_LATE":
                trip["detail"] = {
                    "variant": ("waybill", "fund_flow")[k % 2],
                    "delayH": round(float(rng.uniform(26, 120)), 1),
                }
            elif code == "INTAKE_TIME_ORDER":
                trip["detail"] = {
                    "variant": (
                        "consignment_after_despatch",
                        "send_before_receipt",
                        "receipt_before_despatch",
                    )[k % 3]
                }
            elif code == "INTAKE_UNKNOWN_PARTY":
                trip["detail"] = {"variant": ("vehicle", "driver")[k % 2]}
            elif code == "MATCH_AMOUNT":
                sign = 1 if rng.random() < 0.5 else -1
                trip["detail"] = {"deviation": round(sign * float(rng.uniform(0.02, 0.05)), 4)}
            elif code == "MATCH_PARTY":
                trip["detail"] = {"variant": ("vehicle", "carrier")[k % 2]}
    # A rejected message is an extra, broken copy sent before a document: any clean trip may have one,
    # whatever else is wrong with its accepted version.
    for k, i in enumerate(_choose(rng, eligible, counts.get("INTAKE_REJECTED", 0), set())):
        trips[i]["rejected"] = {"variant": ("waybill", "fund_flow", "vehicle", "driver")[k % 4]}
    return extras


def _set_low_coverage(rng: np.random.Generator, trip: dict) -> None:
    """Remove one block of 30-50 % of the transport period (at least 31 min) from every source."""
    w0, w1 = _window(trip)
    period_s = w1 - w0
    target = min(max(float(rng.uniform(0.3, 0.5)) * period_s, 1860.0), period_s - 600.0)
    b0, b1 = w0 + 300, w1 - 300
    start = int(rng.integers(b0, max(b1 - int(target), b0 + 1)))
    drop = [(start, start + int(target))]
    trip["effects"] = {"drop": drop}
    trip["detail"] = {
        "periodS": period_s,
        "removedS": int(target),
        "removedShare": round(target / period_s, 3),
    }


def _perpendicular(trip: dict, distance_m: float, rng: np.random.Generator) -> tuple[float, float]:
    mov = trip["mov"]
    dx, dy = mov.path_x[-1] - mov.path_x[0], mov.path_y[-1] - mov.path_y[0]
    norm = max(float(np.hypot(dx, dy)), 1.0)
    side = 1.0 if rng.random() < 0.5 else -1.0
    return -dy / norm * distance_m * side, dx / norm * distance_m * side


def _set_teleport(rng: np.random.Generator, trip: dict, tracked: bool) -> None:
    """BeiDou glitch (3-10 min) or a location-spoofing app that moves several consecutive fixes 10-60 km away."""
    spoof = (not tracked) or rng.random() < 0.5
    if spoof:
        step = int(trip.get("app_interval_s") or 300)
        dur_s = int(max(3.5 * 1.2 * step, rng.integers(20, 36) * 60))
        # Tens of km, and far enough that the jump is an impossible speed over the app's longest step (its
        # interval +20 %, with a 30 % margin): a 12 km jump between fixes 10 min apart is 72 km/h, a detour.
        dist = max(float(rng.uniform(10000, 60000)), 1.3 * (130 / 3.6) * 1.2 * step)
    else:
        dur_s = int(rng.integers(3, 11) * 60)
        dist = float(rng.uniform(8000, 25000))
    lo, hi = trip["despatch_s"] + 1200, trip["receipt_s"] - 1200 - dur_s
    t0 = int(rng.integers(lo, max(hi, lo + 1)))
    dx, dy = _perpendicular(trip, dist, rng)
    source = "app" if spoof else "beidou"
    trip["effects"] = {f"shifts_{source}": [{"t0": t0, "t1": t0 + dur_s, "dx_m": dx, "dy_m": dy}]}
    trip["detail"] = {"source": source, "jumpM": round(dist), "durationS": dur_s, "from": t0,
                      "variant": "spoofing_app" if spoof else "beidou_glitch"}
    also = []
    chord = float(haversine_m(*trip["load_pt"], *trip["unload_pt"]))
    if (trip["mov"].length_m + 2 * dist) > 2.8 * max(chord, 1.0):
        also.append("TRACK_LENGTH_IMPLAUSIBLE")
    if spoof and tracked:
        also.append("TRACK_SOURCE_CONFLICT")
    if also:
        trip["detail"]["alsoExpected"] = also


def _set_conflict(rng: np.random.Generator, trip: dict) -> None:
    trip["code"] = "TRACK_SOURCE_CONFLICT"
    w0, w1 = _window(trip)
    share = float(rng.uniform(0.25, 0.40))
    dist = float(rng.uniform(8000, 20000))
    # Drift off at 30 km/h at most: on top of the truck's own 80-90 km/h a faster drift would be an impossible
    # speed, another anomaly than the one labelled.
    ramp_s = int(max(1200, dist / (30 / 3.6)))
    length = int(share * (w1 - w0)) + ramp_s
    t0 = int(rng.integers(w0, max(w1 - length, w0 + 1)))
    dx, dy = _perpendicular(trip, dist, rng)
    trip["effects"] = {
        "shifts_app": [{"t0": t0, "t1": t0 + length, "dx_m": dx, "dy_m": dy, "ramp_s": ramp_s}]
    }
    trip["detail"] = {"apartM": round(dist), "share": round(share, 3), "from": t0, "durationS": length}


def _vehicle_busy(trips: list[dict]) -> dict[int, list[tuple[int, int]]]:
    busy: dict[int, list[tuple[int, int]]] = {}
    for t in trips:
        busy.setdefault(t["veh"], []).append((t["despatch_s"], t["receipt_s"]))
    return busy


def _free(busy: dict, veh: int, a: int, b: int) -> bool:
    return all(e < a or s > b for s, e in busy.get(veh, []))


def _make_extra(rng, world: World, trips: list[dict], code: str, src: dict, busy) -> dict | None:
    base = {k: v for k, v in src.items() if k not in ("id", "effects")}
    base.update(code=code, effects={}, source=src["id"], kind="single", serial="0000", vehicle_amount=1)
    if code == "DUPLICATE_WAYBILL":
        shift = lambda: int(rng.integers(-9, 10)) * 60  # noqa: E731
        base.update(
            despatch_s=src["despatch_s"] + shift(),
            receipt_s=src["receipt_s"] + shift(),
            mov=src["mov"],
            effects={"no_samples": True},
            clone_of=src["id"],
        )
        base["detail"] = {"duplicateOf": src["id"]}
        return base
    if code == "TRACK_VEHICLE_OVERLAP":
        pl = world.places
        far = (pl.dist_m[src["load"]] > 50000) & (pl.dist_m[src["unload"]] > 50000) & pl.home
        cand = np.flatnonzero(far)
        if cand.size < 2:
            return None
        load = int(cand[rng.integers(cand.size)])
        d = pl.dist_m[load, cand]
        unload_c = cand[(d > 40000) & (d < 250000)]
        if unload_c.size == 0:
            return None
        unload = int(unload_c[rng.integers(unload_c.size)])
        despatch = src["despatch_s"] + int(rng.integers(-60, 91)) * 60
        drive_s = int(pl.dist_m[load, unload] * 1.25 / (60 / 3.6)) + 2400
        base.update(
            load=load,
            unload=unload,
            load_pt=point_inside(rng, pl, load),
            unload_pt=point_inside(rng, pl, unload),
            despatch_s=despatch,
            receipt_s=despatch + drive_s,
            mov=None,
            effects={"no_samples": True},
        )
        base["claim_load_pt"], base["claim_unload_pt"] = base["load_pt"], base["unload_pt"]
        overlap = min(src["receipt_s"], despatch + drive_s) - max(src["despatch_s"], despatch)
        if overlap < 1800:  # RULES.md: windows that overlap; a few minutes are tolerated (sloppy hand-overs)
            return None
        base["detail"] = {
            "overlapsWith": src["id"],
            "overlapS": int(max(overlap, 0)),
            # The vehicle drives its other waybill's route: measured against this one's places, its length
            # is whatever that route happens to be.
            "alsoExpected": ["TRACK_START_MISMATCH", "TRACK_END_MISMATCH", "TRACK_LOW_COVERAGE",
                             "TRACK_LENGTH_IMPLAUSIBLE"],
        }
        return base
    # TRACK_DUPLICATED: another vehicle (preferably of another platform) "reports" the source's app track
    # minutes, hours or days later (and reports it later), thinned and with
    # fresh GPS noise.
    variant = ("minutes", "hours", "days")[int(rng.integers(3))]
    sign = 1  # the copy is made (and reported) after its source: RULES.md §1 flags the later one
    if variant == "minutes":
        shift_s = int(rng.integers(3, 21)) * 60 * sign
    elif variant == "hours":
        shift_s = int(rng.integers(60, 12 * 60 + 1)) * 60 * sign
    else:
        shift_s = int(rng.integers(1, 4)) * 86400 + int(rng.integers(-180, 181)) * 60
        shift_s *= sign
    mov = src["mov"].shifted(shift_s)
    if mov.start_s < world.start_s or mov.end_s > world.end_s:
        variant, shift_s = "minutes", int(rng.integers(3, 21)) * 60 * sign
        mov = src["mov"].shifted(shift_s)
    a, b = mov.despatch_s - 3 * 3600, mov.receipt_s + 3 * 3600
    cand = [
        v["_idx"]
        for v in world.vehicles
        if v["_idx"] != src["veh"]
        and "_taint_from_s" not in v
        and "_taint_from_s" not in world.drivers[v["_driver"]]
        and _free(busy, v["_idx"], a, b)
    ]
    # Prefer vehicles the national platform does not track (their only track is the forged one), and
    # another platform's.
    light = [i for i in cand if not heavy(world.vehicles[i])]
    cand = light or cand
    other_op = [i for i in cand if world.vehicles[i]["_op"] != src["op"]]
    cand = other_op or cand
    if not cand:
        return None
    veh = int(cand[rng.integers(len(cand))])
    v = world.vehicles[veh]
    busy.setdefault(veh, []).append((mov.despatch_s, mov.receipt_s))
    keep = float(rng.uniform(0.7, 0.9))
    base.update(
        veh=veh,
        op=v["_op"],
        drivers=[v["_driver"]],
        mov=mov,
        despatch_s=mov.despatch_s,
        receipt_s=mov.receipt_s,
        load_pt=offset_point(*src["load_pt"], 50.0, 0.0),
        effects={"copy_app_from": src["id"], "copy_keep": keep, "copy_shift_s": shift_s},
    )
    base["detail"] = {"copiedFrom": src["id"], "shiftS": shift_s, "keptShare": round(keep, 2),
                      "variant": variant, "otherPlatform": bool(v["_op"] != src["op"])}
    if heavy(v):  # its own BeiDou track (elsewhere) contradicts the forged one
        base["detail"]["alsoExpected"] = ["TRACK_SOURCE_CONFLICT", "TRACK_START_MISMATCH", "TRACK_END_MISMATCH",
                                          "TRACK_IMPOSSIBLE_SPEED", "TRACK_LENGTH_IMPLAUSIBLE"]
    return base
