"""The synthetic province's parties and places: counties, operators, vehicles, drivers, shippers.

Parties are plain dicts keyed by their wire names where they have one (the documents copy them),
plus a few private keys (``_``-prefixed) for the generator's own bookkeeping.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from core.beijing import BEIJING
from geo import gazetteer
from geo.distance import haversine_m
from simulation.generator import names
from simulation.generator.config import NEIGHBOUR_PROVINCES, GeneratorConfig

__all__ = ["Places", "World", "build_world", "heavy", "needs_certificate"]

# Vehicle mix: (share, type codes, gross mass range t, approved load range t, licence classes).
_FLEET = (
    (0.30, ("Q11",), (25.0, 25.0), (30.0, 35.0), ("A2",)),
    (0.35, ("H11", "H12", "H14", "H15", "H17", "H19"), (18.0, 31.0), (10.0, 18.0), ("B2", "A2")),
    (0.10, ("H21", "H22", "H27", "H29"), (6.0, 11.5), (3.0, 7.0), ("B2",)),
    (0.25, ("H31", "H32", "H33", "H39"), (4.2, 4.5), (1.45, 1.8), ("C1", "B2")),
)


def heavy(vehicle: dict) -> bool:
    """Tell whether the national platform tracks the vehicle (gross mass ≥ 12 t or a Q1x tractor)."""
    return vehicle["grossMass"] >= 12.0 or vehicle["vehicleType"].startswith("Q1")


def needs_certificate(vehicle: dict) -> bool:
    """Tell whether the vehicle needs a road-transport certificate and its driver a qualification."""
    return vehicle["grossMass"] > 4.5


@dataclass
class Places:
    """County-level divisions usable as loading/unloading places, as parallel arrays."""

    code: np.ndarray
    prefix: np.ndarray  # "安徽省合肥市蜀山区"
    short: np.ndarray  # "合肥" / "蜀山" for company names
    lon: np.ndarray
    lat: np.ndarray
    radius_m: np.ndarray
    home: np.ndarray  # True for counties of the monitored province
    dist_m: np.ndarray  # pairwise great-circle distance between division points


@dataclass
class World:
    """Everything that exists before the first waybill."""

    config: GeneratorConfig
    start_s: int  # period start, epoch seconds (00:00 Beijing time)
    end_s: int
    places: Places
    operators: list[dict]
    vehicles: list[dict]
    drivers: list[dict]


def _strip(name: str) -> str:
    for suffix in ("自治县", "自治州", "地区", "省", "市", "区", "县", "盟", "旗"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _places(province: str) -> Places:
    frames = [gazetteer.counties(province)] + [
        gazetteer.divisions(p, level="county") for p in NEIGHBOUR_PROVINCES
    ]
    rows = []
    seen: set[tuple[float, float]] = set()
    for frame in frames:
        for r in frame.sort_values("code").itertuples(index=False):
            # Divisions without a point of their own carry their parent's (gazetteer docs): skip those,
            # and oversized ones, so a place's point and radius describe that county.
            key = (round(r.lon, 5), round(r.lat, 5))
            if key in seen or not (1000.0 < r.radius_m <= 60000.0) or np.isnan(r.lon):
                continue
            seen.add(key)
            prov = gazetteer.get(r.province_code)
            parent = gazetteer.get(r.parent_code) if r.parent_code else None
            city = parent.name if parent is not None and parent.level == "city" else ""
            city_short = _strip(city) if city else _strip(r.name)
            rows.append(
                (
                    r.code,
                    f"{prov.name}{city}{r.name}",
                    city_short,
                    r.lon,
                    r.lat,
                    r.radius_m,
                    r.province_code == province,
                )
            )
    code, prefix, short, lon, lat, radius, home = (np.array(col) for col in zip(*rows))
    lon = lon.astype(np.float64)
    lat = lat.astype(np.float64)
    dist = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    return Places(code, prefix, short, lon, lat, radius.astype(np.float64), home.astype(bool), dist)


def _date(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _operators(rng: np.random.Generator, cfg: GeneratorConfig, places: Places) -> list[dict]:
    home = np.flatnonzero(places.home)
    ops = []
    for i in range(cfg.operators):
        p = int(home[rng.integers(home.size)])
        county = str(places.code[p])
        usci = names.usci(rng, county)
        if rng.random() < 0.5:
            abbr = names.PROVINCE_ABBR.get(cfg.province[:2], "皖")
            permit = (
                f"{abbr}交运管许可{str(places.short[p])[:2]}字{county}{int(rng.integers(100000, 999999))}号"
            )
        else:
            permit = f"{county}{int(rng.integers(100000, 999999))}"
        valid_from = cfg.start - dt.timedelta(days=int(rng.integers(200, 1500)))
        ops.append(
            {
                "userName": f"wlhy{cfg.province}{i + 1:03d}",
                "name": names.company_name(
                    rng,
                    str(places.short[p]),
                    kinds=("物流科技有限公司", "供应链管理有限公司", "网络货运有限公司", "智慧物流有限公司"),
                ),
                "unifiedSocialCreditIdentifier": usci,
                "permitNumber": permit,
                "legalRepresentative": names.person_name(rng),
                "contactPerson": names.person_name(rng),
                "telephone": names.phone(rng),
                "countrySubdivisionCode": county,
                "address": names.address(rng, str(places.prefix[p])),
                "_place": p,
                "_permit": {
                    "validFrom": _date(valid_from),
                    "validTo": _date(valid_from + dt.timedelta(days=365 * 6)),
                    "status": "valid",
                    "inRegistry": True,
                },
            }
        )
    return ops


def _vehicles_and_drivers(
    rng: np.random.Generator, cfg: GeneratorConfig, places: Places, operators: list[dict]
) -> tuple[list[dict], list[dict]]:
    weights = 1.0 / np.arange(1, cfg.operators + 1) ** 0.8
    weights /= weights.sum()
    # Every operator gets at least 3 vehicles so multi-vehicle waybills are possible everywhere.
    minimum = min(3, cfg.vehicles // cfg.operators)
    counts = minimum + rng.multinomial(cfg.vehicles - minimum * cfg.operators, weights)
    owner_op = np.repeat(np.arange(cfg.operators), counts)
    shares = np.array([f[0] for f in _FLEET])
    kinds = rng.choice(len(_FLEET), size=cfg.vehicles, p=shares / shares.sum())
    home = np.flatnonzero(places.home)
    vehicles, drivers, plates = [], [], set()
    for v in range(cfg.vehicles):
        _, types, gross, load, classes = _FLEET[kinds[v]]
        op = operators[int(owner_op[v])]
        p = int(home[rng.integers(home.size)]) if rng.random() < 0.4 else op["_place"]
        county = str(places.code[p])
        vtype = types[int(rng.integers(len(types)))]
        gross_t = round(float(rng.uniform(*gross)), 2)
        load_t = round(float(rng.uniform(*load)), 2)
        light = gross_t <= 4.5
        new_energy = light and rng.random() < 0.25
        plate = names.plate_number(rng, cfg.province, county, new_energy=new_energy)
        while plate in plates:
            plate = names.plate_number(rng, cfg.province, county, new_energy=new_energy)
        plates.add(plate)
        colour = "5" if new_energy else ("1" if light else "2")
        cert_from = cfg.start - dt.timedelta(days=int(rng.integers(100, 1400)))
        # Individual owner-drivers are the common case; the rest belong to small fleets.
        driver_name = names.person_name(rng)
        driver_id = names.id_number(rng, county)
        if rng.random() < 0.7:
            carrier = {
                "actualCarrierName": driver_name,
                "actualCarrierId": driver_id,
                "actualCarrierBusinessLicense": county + "000000"
                if light
                else f"{county}{int(rng.integers(100000, 999999))}",
            }
        else:
            fleet_usci = names.usci(rng, county)
            carrier = {
                "actualCarrierName": names.company_name(
                    rng, str(places.short[p]), kinds=("运输有限公司", "货运有限公司")
                ),
                "actualCarrierId": fleet_usci,
                "actualCarrierBusinessLicense": f"{county}{int(rng.integers(100000, 999999))}",
            }
        register = cfg.start - dt.timedelta(days=int(rng.integers(200, 3000)))
        vehicles.append(
            {
                "vehicleNumber": plate,
                "vehiclePlateColorCode": colour,
                "vehicleType": vtype,
                "owner": carrier["actualCarrierName"],
                "useCharacter": "货运",
                "vin": names.vin(rng),
                "issuingOrganizations": f"{places.short[p]}市公安局交通警察支队",
                "registerDate": _date(register),
                "issueDate": _date(register + dt.timedelta(days=int(rng.integers(0, 30)))),
                "vehicleEnergyType": "C" if new_energy else ("E" if rng.random() < 0.08 else "B"),
                "vehicleTonnage": load_t,
                "grossMass": gross_t,
                "roadTransportCertificateNumber": county
                + ("000000" if light else f"{int(rng.integers(100000, 999999))}"),
                "trailerVehiclePlateNumber": (plate[:2] + f"{int(rng.integers(0, 10000)):04d}挂")
                if vtype.startswith("Q")
                else None,
                "_idx": v,
                "_op": int(owner_op[v]),
                "_place": p,
                "_carrier": carrier,
                "_driver": v,
                "_cert": {
                    "validFrom": _date(cert_from),
                    "validTo": _date(cert_from + dt.timedelta(days=365 * 6)),
                    "status": "valid",
                    "inRegistry": not light,
                },
                "_network": {"inNetwork": True, "since": _date(register + dt.timedelta(days=30))},
            }
        )
        drivers.append(_driver(rng, cfg, str(places.short[p]), driver_name, driver_id, classes, light, v))
    for d in range(cfg.vehicles, cfg.drivers):
        p = int(home[rng.integers(home.size)])
        county = str(places.code[p])
        drivers.append(
            _driver(
                rng,
                cfg,
                str(places.short[p]),
                names.person_name(rng),
                names.id_number(rng, county),
                ("B2", "A2"),
                False,
                None,
            )
        )
        # Spare drivers ride along as co-drivers of one vehicle each.
        vehicles[(d - cfg.vehicles) * 7 % cfg.vehicles].setdefault("_codrivers", []).append(d)
    for d, drv in enumerate(drivers):
        drv["_idx"] = d
    return vehicles, drivers


def _driver(rng, cfg, city: str, name: str, id_no: str, classes, light: bool, vehicle: int | None) -> dict:
    lic_from = cfg.start - dt.timedelta(days=int(rng.integers(100, 1800)))
    lic_to = (
        "29991231"
        if rng.random() < 0.2
        else _date(lic_from + dt.timedelta(days=365 * int(rng.choice([6, 10]))))
    )
    qual_from = cfg.start - dt.timedelta(days=int(rng.integers(100, 1500)))
    return {
        "driverName": name,
        "drivingLicense": id_no,
        "vehicleClass": classes[int(rng.integers(len(classes)))],
        "issuingOrganizations": f"{city}市公安局交通警察支队",
        "validPeriodFrom": _date(lic_from),
        "validPeriodTo": lic_to,
        # ≤ 4.5 t drivers need no qualification: the spec's placeholder is ID prefix + zeros.
        "qualificationCertificate": id_no[:6] + "000000000000" if light else id_no,
        "telephone": names.phone(rng),
        "_vehicle": vehicle,
        "_qual": {
            "validFrom": _date(qual_from),
            "validTo": _date(qual_from + dt.timedelta(days=365 * 6)),
            "status": "valid",
            "inRegistry": not light,
        },
    }


def build_world(rng: np.random.Generator, cfg: GeneratorConfig) -> World:
    """Create the places, operators, vehicles and drivers of one run.

    Parameters
    ----------
    rng : numpy.random.Generator
    cfg : GeneratorConfig

    Returns
    -------
    World
    """
    places = _places(cfg.province)
    operators = _operators(rng, cfg, places)
    vehicles, drivers = _vehicles_and_drivers(rng, cfg, places, operators)
    start = dt.datetime.combine(cfg.start, dt.time(0, 0), tzinfo=BEIJING)
    start_s = int(start.timestamp())
    return World(cfg, start_s, start_s + cfg.days * 86400, places, operators, vehicles, drivers)
