"""Behaviour of the synthetic province generator on the small preset."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from core.beijing import BEIJING
from etl.schemas import validate_payload
from geo import crs, gazetteer, outlines
from geo.distance import haversine_m
from simulation.generator import FILES, GeneratorConfig, generate
from simulation.generator.config import ANOMALY_CODES

IPC = {
    "waybills.jsonl": "WLHY_YD1001",
    "fund_flows.jsonl": "WLHY_ZJ1001",
    "vehicles.jsonl": "WLHY_CL1001",
    "drivers.jsonl": "WLHY_JSY1001",
    "positions_app.jsonl": "WLHY_WZ1001",
}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _epoch(wire: str) -> int:
    return int(
        dt.datetime.strptime(wire, "%Y%m%d%H%M%S")
        .replace(tzinfo=BEIJING)
        .timestamp()
    )


@pytest.fixture(scope="module")
def raised(tmp_path_factory) -> Path:
    """Small preset with every anomaly rate at 3 %: every code must show up."""
    out = tmp_path_factory.mktemp("raised")
    generate(GeneratorConfig.small().with_rates(0.03), out, progress=False)
    return out


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("default")
    return out, generate(GeneratorConfig.small(), out, progress=False)


class _Dataset:
    """The clean part of a generated directory: waybills of no labelled party, with their tracks."""

    def __init__(self, out: Path):
        self.truth = _jsonl(out / "ground_truth.jsonl")
        bad_parties = {json.dumps(g["key"], sort_keys=True) for g in self.truth if g["kind"] != "waybill"}
        bad_waybills = {
            (g["key"]["shippingNoteNumber"], g["key"]["serialNumber"])
            for g in self.truth
            if g["kind"] == "waybill"
        }
        bad_ops = {g["operator"] for g in self.truth if g["kind"] == "operator"}
        rejected = {
            (g["detail"]["file"], g["detail"]["line"]) for g in self.truth if g["code"] == "INTAKE_REJECTED"
        }
        self.vehicles = {
            (r["payload"]["vehicleNumber"]): r["payload"]
            for i, r in enumerate(_jsonl(out / "vehicles.jsonl"), 1)
            if ("vehicles.jsonl", i) not in rejected
        }
        self.clean = []
        for i, r in enumerate(_jsonl(out / "waybills.jsonl"), 1):
            p = r["payload"]
            v = p["vehicleInfo"][0]
            keys = [
                json.dumps(
                    {
                        "vehicleNumber": v["vehicleNumber"],
                        "vehiclePlateColorCode": v["vehiclePlateColorCode"],
                    },
                    sort_keys=True,
                )
            ]
            keys += [json.dumps({"drivingLicense": d["drivingLicense"]}) for d in v["driver"]]
            if ("waybills.jsonl", i) in rejected or (
                p["shippingNoteNumber"],
                p["serialNumber"],
            ) in bad_waybills:
                continue
            if r["operator"] in bad_ops or any(k in bad_parties for k in keys):
                continue
            self.clean.append(p)
        self.app: dict[tuple[str, str], list] = {}
        for r in _jsonl(out / "positions_app.jsonl"):
            p = r["payload"]
            for info in p["shippingNoteInfos"]:
                self.app.setdefault((info["shippingNoteNumber"], info["serialNumber"]), []).extend(
                    {**x, "_crs": p["coordinateSystem"]} for x in p["locations"]
                )
        table = pq.read_table(out / "beidou.parquet")
        self.beidou = table
        plates = np.asarray(table["vehicle_number"].to_pylist(), dtype=object)
        self.bd_t = table["t"].cast("int64").to_numpy() // 1_000_000
        self.bd_lon, self.bd_lat = table["lon"].to_numpy(), table["lat"].to_numpy()
        self.bd_rows: dict[str, np.ndarray] = {}
        if plates.size:
            starts = np.flatnonzero(np.r_[True, plates[1:] != plates[:-1]])
            ends = np.r_[starts[1:], plates.size]
            self.bd_rows = {plates[a]: np.arange(a, b) for a, b in zip(starts, ends)}

    def beidou_in(self, plate: str, t0: int, t1: int) -> np.ndarray:
        rows = self.bd_rows.get(plate, np.zeros(0, dtype=np.int64))
        return rows[(self.bd_t[rows] >= t0) & (self.bd_t[rows] <= t1)]


@pytest.fixture(scope="module")
def data(default) -> _Dataset:
    return _Dataset(default[0])


def test_same_config_gives_identical_bytes_and_another_seed_differs(tmp_path, default):
    first, _ = default
    again = tmp_path / "again"
    # A separate interpreter with another hash seed: set/dict ordering must not leak into the output.
    code = (
        "import sys; from pathlib import Path; from simulation.generator import generate, GeneratorConfig; "
        "generate(GeneratorConfig.small(), Path(sys.argv[1]), progress=False)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(again)], check=True, env=env)
    for name in FILES:
        assert (again / name).read_bytes() == (first / name).read_bytes(), name
    other = tmp_path / "other"
    generate(GeneratorConfig.small(seed=7), other, progress=False)
    assert (other / "waybills.jsonl").read_bytes() != (first / "waybills.jsonl").read_bytes()
    assert (other / "beidou.parquet").read_bytes() != (first / "beidou.parquet").read_bytes()


def test_counts_honour_the_config(default):
    out, summary = default
    cfg = GeneratorConfig.small()
    waybills = _jsonl(out / "waybills.jsonl")
    keys = {
        (r["operator"], r["payload"]["shippingNoteNumber"], r["payload"]["serialNumber"]) for r in waybills
    }
    assert len(keys) == cfg.waybills == summary["waybillDocuments"]
    assert len(_jsonl(out / "operators.jsonl")) == cfg.operators
    assert len({r["payload"]["vehicleNumber"] for r in _jsonl(out / "vehicles.jsonl")}) == cfg.vehicles
    assert len({r["payload"]["drivingLicense"] for r in _jsonl(out / "drivers.jsonl")}) == cfg.drivers
    start = _epoch(cfg.start.strftime("%Y%m%d") + "000000")
    for r in waybills:
        despatch = _epoch(r["payload"]["vehicleInfo"][0]["despatchActualDateTime"])
        assert start <= despatch < start + cfg.days * 86400
    assert summary["beidouFixes"] == pq.read_metadata(out / "beidou.parquet").num_rows > 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["files"]["waybills.jsonl"] == len(waybills)


def test_multi_vehicle_and_segmented_waybills_are_present(default):
    out, _ = default
    by_note: dict[str, list[dict]] = {}
    for r in _jsonl(out / "waybills.jsonl"):
        by_note.setdefault(r["payload"]["shippingNoteNumber"], []).append(r["payload"])
    multi = [ps for ps in by_note.values() if {p["serialNumber"] for p in ps} >= {"0100", "0200"}]
    segmented = [ps for ps in by_note.values() if {p["serialNumber"] for p in ps} == {"0001", "0002"}]
    assert multi and segmented
    for ps in multi:
        assert all(p["vehicleAmount"] == len(ps) for p in ps)
        assert len({p["vehicleInfo"][0]["vehicleNumber"] for p in ps}) == len(ps)
    for ps in segmented:
        one, two = sorted(ps, key=lambda p: p["serialNumber"])
        assert (
            one["vehicleInfo"][0]["receiptCountrySubdivisionCode"]
            == two["vehicleInfo"][0]["loadingCountrySubdivisionCode"]
        )
        assert two["vehicleInfo"][0]["despatchActualDateTime"] > one["vehicleInfo"][0]["goodsReceiptDateTime"]


def test_payloads_validate_except_the_deliberately_rejected(raised):
    truth = _jsonl(raised / "ground_truth.jsonl")
    rejected = {(g["detail"]["file"], g["detail"]["line"]) for g in truth if g["code"] == "INTAKE_REJECTED"}
    assert rejected
    for name, ipc in IPC.items():
        for i, r in enumerate(_jsonl(raised / name), 1):
            result = validate_payload(ipc, r["payload"])
            if (name, i) in rejected:
                assert not result.ok, (name, i)
            else:
                assert result.ok, (name, i, result.errors[:3])


def test_every_anomaly_code_is_injected_when_rates_are_raised(raised):
    truth = _jsonl(raised / "ground_truth.jsonl")
    assert {g["code"] for g in truth} == set(ANOMALY_CODES)
    for g in truth:
        assert g["kind"] in {"waybill", "fund_flow", "vehicle", "driver", "operator", "message"}
        assert len(g["operator"]) == 18 and g["key"]


def test_hard_anomalies_are_subtle(raised):
    truth = _jsonl(raised / "ground_truth.jsonl")
    for g in truth:
        d = g["detail"]
        if g["code"] in ("TRACK_START_MISMATCH", "TRACK_END_MISMATCH"):
            # just outside the named place, or 10-20 km off given coordinates: never hundreds of km away
            if d.get("variant") == "10_20_km":
                assert d["reference"] == "extension coordinates"
                assert max(10000, d["namedRadiusM"]) <= d["distanceFromNamedM"] <= 20000 + 1
            else:
                assert d["namedRadiusM"] < d["distanceFromNamedM"] <= d["namedRadiusM"] + 12000
        if g["code"] == "TRACK_SOURCE_CONFLICT":
            assert 0.25 <= d["share"] <= 0.40 and d["apartM"] > 5000
        if g["code"] == "MATCH_AMOUNT":
            assert 0.02 <= abs(d["deviation"]) <= 0.05
        if g["code"] == "TRACK_LOW_COVERAGE":
            assert 0.2 <= d["removedShare"] <= 0.6
        if g["code"] == "TRACK_LENGTH_IMPLAUSIBLE":
            assert d["ratio"] > 3.0


def test_duplicate_waybill_repeats_its_original_under_another_number(raised):
    waybills = {
        (r["payload"]["shippingNoteNumber"], r["payload"]["serialNumber"]): r["payload"]
        for r in _jsonl(raised / "waybills.jsonl")
    }
    dups = [g for g in _jsonl(raised / "ground_truth.jsonl") if g["code"] == "DUPLICATE_WAYBILL"]
    assert dups
    for g in dups:
        dup = waybills[(g["key"]["shippingNoteNumber"], g["key"]["serialNumber"])]
        ref = g["detail"]["duplicateOf"]
        orig = waybills[(ref["shippingNoteNumber"], ref["serialNumber"])]
        assert dup["shippingNoteNumber"] != orig["shippingNoteNumber"]
        assert dup["totalMonetaryAmount"] == orig["totalMonetaryAmount"]
        for field in (
            "vehicleNumber",
            "placeOfLoading",
            "goodsReceiptPlace",
            "loadingCountrySubdivisionCode",
        ):
            assert dup["vehicleInfo"][0][field] == orig["vehicleInfo"][0][field]
        for field in ("despatchActualDateTime", "goodsReceiptDateTime"):
            assert abs(_epoch(dup[field]) - _epoch(orig[field])) <= 600


def test_clean_waybills_have_a_matching_fund_flow(default, data):
    out, _ = default
    rejected = {
        g["detail"]["line"]
        for g in data.truth
        if g["code"] == "INTAKE_REJECTED" and g["detail"]["file"] == "fund_flows.jsonl"
    }
    paid: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    for i, r in enumerate(_jsonl(out / "fund_flows.jsonl"), 1):
        if i in rejected:
            continue
        p = r["payload"]
        for note in p["shippingNoteList"]:
            paid.setdefault((note["shippingNoteNumber"], note["serialNumber"]), []).append((p, note))
    assert len(data.clean) > 50
    for w in data.clean:
        flows = paid[(w["shippingNoteNumber"], w["serialNumber"])]
        assert len(flows) == 1
        flow, note = flows[0]
        assert note["totalMonetaryAmount"] == w["totalMonetaryAmount"]
        assert flow["vehicleNumber"] == w["vehicleInfo"][0]["vehicleNumber"]
        assert flow["actualCarrierId"] == w["actualCarrierInfo"]["actualCarrierId"]
        notes_milli = sum(int(n["totalMonetaryAmount"].replace(".", "")) for n in flow["shippingNoteList"])
        paid_milli = sum(int(f["monetaryAmount"].replace(".", "")) for f in flow["financiallist"])
        assert notes_milli == paid_milli
        assert (
            w["consignmentDateTime"]
            <= w["despatchActualDateTime"]
            < w["goodsReceiptDateTime"]
            <= w["sendToProDateTime"]
        )


def test_clean_tracks_start_inside_the_loading_division_and_drive_at_truck_speeds(data):
    checked = 0
    for w in data.clean:
        v = w["vehicleInfo"][0]
        app = data.app.get((w["shippingNoteNumber"], w["serialNumber"]))
        if not app:  # a BeiDou-only trip: the driver never opened the app, the national platform saw it
            despatch = _epoch(v["despatchActualDateTime"])
            assert data.beidou_in(v["vehicleNumber"], despatch, _epoch(v["goodsReceiptDateTime"])).size > 10
            continue
        t = np.array([_epoch(x["dateTime"]) for x in app])
        lon, lat = _to_wgs84(app)
        order = np.argsort(t, kind="stable")
        t, lon, lat = t[order], lon[order], lat[order]
        code = v["loadingCountrySubdivisionCode"]
        place = gazetteer.get(code)

        def in_division(x, y):
            # Yards lie anywhere in the division's real outline (RULES.md §2 matches it plus a 2 km buffer),
            # near its centre for a division without one.
            if outlines.has_outline(code):
                return outlines.distance_to_outline_m(code, x, y) <= 2000.0
            return haversine_m(x, y, place.lon, place.lat) < place.radius_m

        # The app opens with the waybill: its first fix (at despatch) lies in the loading division
        # (with a 12-min interval the next ones are already 10 km down the road).
        assert in_division(lon[0], lat[0])
        assert t[0] >= _epoch(v["despatchActualDateTime"]) and t[-1] <= _epoch(v["goodsReceiptDateTime"])
        despatch = _epoch(v["despatchActualDateTime"])
        near = np.abs(t - despatch) <= 600
        assert np.asarray(in_division(lon[near], lat[near])).any()
        # Only the transport period: trips run back to back, the margins hold the neighbours' (maybe anomalous)
        # fixes (RULES.md §2).
        rows = data.beidou_in(v["vehicleNumber"], despatch, _epoch(v["goodsReceiptDateTime"]))
        if rows.size > 2:
            bt, blon, blat = data.bd_t[rows], data.bd_lon[rows], data.bd_lat[rows]
            dt_s = np.diff(bt)
            step = haversine_m(blon[:-1], blat[:-1], blon[1:], blat[1:])
            fast = np.flatnonzero((dt_s > 0) & (step / np.maximum(dt_s, 1) * 3.6 > 100))
            # Only single-fix GPS outliers may exceed 100 km/h: dropping fix k or fix k+1 must bring it back.
            for k in fast:
                skips = []
                for a, b in ((k - 1, k + 1), (k, k + 2)):
                    if a >= 0 and b < bt.size:
                        skips.append(
                            haversine_m(blon[a], blat[a], blon[b], blat[b]) / max(bt[b] - bt[a], 1) * 3.6
                        )
                assert min(skips) <= 100, (v["vehicleNumber"], k)
            checked += 1
    assert checked > 20


def _to_wgs84(app: list) -> tuple[np.ndarray, np.ndarray]:
    systems = {x["_crs"] for x in app}
    assert len(systems) == 1 and systems <= {"GCJ02", "BD09"}
    lon, lat = np.array([x["longitude"] for x in app]), np.array([x["latitude"] for x in app])
    return crs.to_wgs84(lon, lat, systems.pop())


def test_app_fixes_are_gcj02_or_bd09_on_the_beidou_path(data):
    compared = 0
    seen = set()
    for w in data.clean:
        v = w["vehicleInfo"][0]
        app = data.app.get((w["shippingNoteNumber"], w["serialNumber"]))
        if not app:
            continue
        rows = data.beidou_in(
            v["vehicleNumber"], _epoch(v["despatchActualDateTime"]), _epoch(v["goodsReceiptDateTime"])
        )
        if rows.size < 10:
            continue
        bt, blon, blat = data.bd_t[rows], data.bd_lon[rows], data.bd_lat[rows]
        t = np.array([_epoch(x["dateTime"]) for x in app])
        glon = np.array([x["longitude"] for x in app])
        glat = np.array([x["latitude"] for x in app])
        # Compare only where BeiDou has a fix within 30 s (no signal-loss gap in between).
        pos = np.clip(np.searchsorted(bt, t), 1, bt.size - 1)
        ok = (t >= bt[0]) & (t <= bt[-1]) & (bt[pos] - bt[pos - 1] <= 60)
        if ok.sum() < 5:
            continue
        ref_lon, ref_lat = np.interp(t[ok], bt, blon), np.interp(t[ok], bt, blat)
        wlon, wlat = _to_wgs84([x for x, k in zip(app, ok) if k])
        assert np.median(haversine_m(wlon, wlat, ref_lon, ref_lat)) < 40
        assert np.median(haversine_m(glon[ok], glat[ok], ref_lon, ref_lat)) > 150  # raw GCJ-02 / BD-09 is offset
        seen.add(app[0]["_crs"])
        compared += 1
    assert compared > 20
    assert "GCJ02" in seen
    assert {x["_crs"] for app in data.app.values() for x in app} == {"GCJ02", "BD09"}


def test_beidou_table_has_the_contracted_schema_and_order(data):
    table = data.beidou
    assert table.column_names == [
        "vehicle_number",
        "plate_color",
        "t",
        "lon",
        "lat",
        "speed_kmh",
        "direction",
        "altitude",
    ]
    assert str(table.schema.field("t").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("speed_kmh").type) == "float"
    plates = table["vehicle_number"].to_pylist()
    assert plates == sorted(plates)
    heavy = {
        p
        for p, v in data.vehicles.items()
        if float(v["grossMass"]) >= 12 or v["vehicleType"].startswith("Q1")
    }
    assert set(plates) <= heavy
    for rows in data.bd_rows.values():
        assert np.all(np.diff(data.bd_t[rows]) >= 0)


def test_config_rejects_unknown_anomaly_codes():
    with pytest.raises(ValueError, match="unknown anomaly codes"):
        GeneratorConfig(anomaly_rates={"NOT_A_CODE": 0.1})
