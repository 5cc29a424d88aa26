"""Deterministic synthetic province: operators, vehicles, drivers, waybills, fund flows, tracks, registries.

``generate(config, out_dir)`` writes the files the loader and the simulators read (see
``manifest.json`` in the output for the list) plus ``ground_truth.jsonl``, one line per injected
anomaly. The same config (seed included) gives byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from rich.progress import Progress

from simulation.generator.anomalies import (
    EXTRA_CODES,
    TRIP_CODES,
    assign_trip_anomalies,
    inject_party_anomalies,
    quota,
)
from simulation.generator.config import ANOMALY_CODES, GeneratorConfig
from simulation.generator.documents import build_documents, registry
from simulation.generator.positions import app_crs, app_messages, beidou_table, sample_trips
from simulation.generator.schedule import ROUTE_CODES, is_heavy_tracked, plan_trips, trip_eligible
from simulation.generator.world import build_world

__all__ = ["FILES", "GeneratorConfig", "generate"]

#: Files written by :func:`generate`, relative to the output directory.
FILES = (
    "manifest.json",
    "operators.jsonl",
    "vehicles.jsonl",
    "drivers.jsonl",
    "waybills.jsonl",
    "fund_flows.jsonl",
    "positions_app.jsonl",
    "beidou.parquet",
    "registry/operator_licences.jsonl",
    "registry/vehicle_certificates.jsonl",
    "registry/driver_certificates.jsonl",
    "registry/in_network.jsonl",
    "registry/tax_invoices.jsonl",
    "registry/insurance_policies.jsonl",
    "ground_truth.jsonl",
)
_OPERATOR_FIELDS = (
    "userName",
    "name",
    "unifiedSocialCreditIdentifier",
    "permitNumber",
    "legalRepresentative",
    "contactPerson",
    "telephone",
    "countrySubdivisionCode",
    "address",
)


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _public(rec: dict) -> dict:
    return {"operator": rec["operator"], "sendAt": rec["sendAt"], "payload": rec["payload"]}


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def _natural(file: str, payload: dict) -> str:
    if file == "waybills.jsonl":
        return f"{payload.get('shippingNoteNumber')}/{payload.get('serialNumber')}"
    if file == "fund_flows.jsonl":
        return str(payload.get("documentNumber"))
    if file == "vehicles.jsonl":
        return f"{payload.get('vehicleNumber')}/{payload.get('vehiclePlateColorCode')}"
    return str(payload.get("drivingLicense"))


def _sorted_records(file: str, good: list[dict], bad: list[dict]) -> list[dict]:
    """Records in sending order; a rejected copy goes before the document it breaks."""
    keyed = [((r["sendAt"], r["operator"], _natural(file, r["payload"]), 1), r) for r in good]
    keyed += [((r["sendAt"], r["operator"], _natural(file, r["payload"]), 0), r) for r in bad]
    keyed.sort(key=lambda kr: kr[0])
    return [r for _, r in keyed]


def _trip_ref(trip: dict) -> dict:
    return {
        "shippingNoteNumber": trip["shippingNoteNumber"],
        "serialNumber": trip["serial"],
        "vehicleNumber": trip["wire_vehicle"][0],
    }


def _trip_profiles(world, trips: list[dict]) -> list[dict]:
    """Per waybill item, what kind of genuine (or anomalous) trip it is: the variants the bench breaks false
    alarms down by (``trip_profiles.jsonl``)."""
    by_veh: dict[int, list[dict]] = {}
    for t in trips:
        if "source" not in t and t.get("mov") is not None:
            by_veh.setdefault(t["veh"], []).append(t)
    near: set[int] = set()
    for ts in by_veh.values():
        ts.sort(key=lambda t: t["despatch_s"])
        for a, b in zip(ts[:-1], ts[1:]):
            if b["despatch_s"] - a["receipt_s"] <= 6 * 3600:  # the neighbour reaches into the ±2 h margins' area
                near.update((a["id"], b["id"]))
    out = []
    for t in trips:
        if "shippingNoteNumber" not in t:
            continue
        app = t.get("app") is not None and t["app"].t.size > 0
        beidou = t.get("beidou") is not None and t["beidou"].t.size > 0
        variants = []
        if app and int(t.get("app_interval_s") or 0) >= 300:
            variants.append("sparse_app")
        if app and app_crs(t["op"]) == "BD09":
            variants.append("bd09")
        if float(t.get("length_factor") or 0.0) > 1.4:
            variants.append("detour")
        if t["id"] in near:
            variants.append("back_to_back")
        if beidou and not app:
            variants.append("beidou_only")
        if beidou and app:
            variants.append("both_sources")
        if app and not beidou:
            variants.append("app_only")
        if (t["despatch_s"] + 8 * 3600) // 86400 != (t["receipt_s"] + 8 * 3600) // 86400:
            variants.append("across_midnight")
        if t.get("kind") in ("multi", "segment"):
            variants.append("multi_vehicle" if t["kind"] == "multi" else "segmented")
        out.append({
            "operator": world.operators[t["op"]]["unifiedSocialCreditIdentifier"],
            "key": {"shippingNoteNumber": t["shippingNoteNumber"], "serialNumber": t["serial"]},
            "vehicleNumber": t["wire_vehicle"][0],
            "code": t["code"],
            "variants": variants,
            "appIntervalS": int(t["app_interval_s"]) if app and t.get("app_interval_s") else None,
        })
    return out


def _trip_truth(world, trips: list[dict], lines: dict[int, tuple[str, int]]) -> list[dict]:
    out = []
    for t in trips:
        code = t["code"]
        if code is None:
            continue
        detail = dict(t["detail"])
        for ref in ("pairedWith", "duplicateOf", "overlapsWith", "copiedFrom"):
            if ref in detail:
                detail[ref] = _trip_ref(trips[detail[ref]])
        kind = "waybill"
        key = {"shippingNoteNumber": t["shippingNoteNumber"], "serialNumber": t["serial"]}
        if code == "INTAKE_LATE" and detail["variant"] == "fund_flow":
            kind, key = "fund_flow", {"documentNumber": detail["documentNumber"]}
        out.append(
            {
                "code": code,
                "kind": kind,
                "operator": world.operators[t["op"]]["unifiedSocialCreditIdentifier"],
                "key": key,
                "detail": detail,
            }
        )
    for t in trips:
        if "rejected" not in t:
            continue
        detail = dict(t["rejected"])
        kind = detail["variant"]
        detail["file"], detail["line"] = lines[t["id"]]
        if kind == "waybill":
            key = {"shippingNoteNumber": t["shippingNoteNumber"], "serialNumber": t["serial"]}
        elif kind == "fund_flow":
            key = {"documentNumber": t["fund_flow"]}
        elif kind == "vehicle":
            v = world.vehicles[t["veh"]]
            key = {"vehicleNumber": v["vehicleNumber"], "vehiclePlateColorCode": v["vehiclePlateColorCode"]}
        else:
            key = {"drivingLicense": world.drivers[t["drivers"][0]]["drivingLicense"]}
        out.append(
            {
                "code": "INTAKE_REJECTED",
                "kind": kind,
                "operator": world.operators[t["op"]]["unifiedSocialCreditIdentifier"],
                "key": key,
                "detail": detail,
            }
        )
    return out


def generate(config: GeneratorConfig, out_dir: Path, *, progress: bool = True) -> dict:
    """Generate one synthetic province into `out_dir`.

    Parameters
    ----------
    config : GeneratorConfig
        Sizes, period, sampling and anomaly rates; the seed decides everything else.
    out_dir : pathlib.Path
        Created if missing; existing files of the same names are overwritten.
    progress : bool
        Show a rich progress bar.

    Returns
    -------
    dict
        Counts: lines per JSONL file, rows of ``beidou.parquet``, app fixes, waybill documents,
        anomalies per code.

    Examples
    --------
    >>> summary = generate(GeneratorConfig.small(), Path("/tmp/gen-small"), progress=False)  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(config.seed))
    rates = config.anomaly_rates
    with Progress(disable=not progress, transient=False) as bar:
        task = bar.add_task("planning", total=None)
        world = build_world(rng, config)
        truth = inject_party_anomalies(rng, world)
        counts = {
            c: quota(rates[c], config.waybills)
            for c in TRIP_CODES + EXTRA_CODES + ROUTE_CODES + ("INTAKE_REJECTED",)
        }
        n_extra = sum(counts[c] for c in EXTRA_CODES)
        trips = plan_trips(
            rng, world, n_docs=config.waybills - n_extra, route_quota={c: counts[c] for c in ROUTE_CODES}
        )
        tracked = {t["id"] for t in trips if is_heavy_tracked(world, t)}
        eligible = [t["id"] for t in trips if t["code"] is None and trip_eligible(t, world)]
        assign_trip_anomalies(rng, world, trips, counts, eligible, tracked)
        bar.update(task, total=1, completed=1)

        task = bar.add_task("sampling tracks", total=len(trips))
        sample_trips(rng, world, trips, tracked, on_trip=lambda: bar.advance(task))

        task = bar.add_task("building documents", total=1)
        docs = build_documents(rng, world, trips)
        bar.update(task, completed=1)

        task = bar.add_task("writing", total=len(trips) + 4)
        files: dict[str, int] = {}
        lines_of: dict[int, tuple[str, int]] = {}
        sorted_by_file = {}
        for file, good in (
            ("waybills.jsonl", docs.waybills),
            ("fund_flows.jsonl", docs.fund_flows),
            ("vehicles.jsonl", docs.vehicles),
            ("drivers.jsonl", docs.drivers),
        ):
            bad = [r["record"] for r in docs.rejected if r["file"] == file]
            records = _sorted_records(file, good, bad)
            line_no = {id(r): i + 1 for i, r in enumerate(records)}
            for r in docs.rejected:
                if r["file"] == file:
                    lines_of[r["trip"]] = (file, line_no[id(r["record"])])
            _write_lines(out_dir / file, [_dumps(_public(r)) for r in records])
            files[file] = len(records)
            sorted_by_file[file] = records
        bar.advance(task, 4)

        _write_lines(
            out_dir / "operators.jsonl",
            [_dumps({k: op[k] for k in _OPERATOR_FIELDS}) for op in world.operators],
        )
        files["operators.jsonl"] = len(world.operators)

        messages = []
        app_fixes = 0
        profiles = _trip_profiles(world, trips)
        for t in trips:
            bar.advance(task)
            if t.get("app") is None:
                continue
            d_name, d_id = t["wire_drivers"][0]
            header = {
                "vehicleNumber": t["wire_vehicle"][0],
                "vehiclePlateColorCode": t["wire_vehicle"][1],
                "driverName": d_name,
                "drivingLicense": d_id,
                "shippingNoteInfos": [
                    {"shippingNoteNumber": t["shippingNoteNumber"], "serialNumber": t["serial"]}
                ],
            }
            usci = world.operators[t["op"]]["unifiedSocialCreditIdentifier"]
            for send_at, payload in app_messages(rng, t, header, message_min=tuple(config.app_message_min),
                                                 crs=app_crs(t["op"])):
                app_fixes += len(payload["locations"])
                messages.append(
                    (
                        (send_at, usci, payload["vehicleNumber"], payload["locations"][0]["dateTime"]),
                        _dumps({"operator": usci, "sendAt": send_at, "payload": payload}),
                    )
                )
            t["app"] = None  # free the arrays as we go
        messages.sort(key=lambda m: m[0])
        _write_lines(out_dir / "positions_app.jsonl", [m[1] for m in messages])
        files["positions_app.jsonl"] = len(messages)
        del messages

        _write_lines(out_dir / "trip_profiles.jsonl", [_dumps(p) for p in profiles])
        files["trip_profiles.jsonl"] = len(profiles)

        table = beidou_table(world, trips)
        pq.write_table(table, out_dir / "beidou.parquet", compression="zstd", row_group_size=1 << 20)
        files["beidou.parquet"] = table.num_rows
        del table

        for name, rows in registry(world, docs).items():
            _write_lines(out_dir / "registry" / f"{name}.jsonl", [_dumps(r) for r in rows])
            files[f"registry/{name}.jsonl"] = len(rows)

        truth += _trip_truth(world, trips, lines_of)
        truth += _weak_envelopes(
            rng,
            sorted_by_file["waybills.jsonl"],
            docs.rejected,
            quota(rates["SEC_WEAK_ENVELOPE"], config.waybills),
        )
        _write_lines(out_dir / "ground_truth.jsonl", [_dumps(g) for g in truth])
        files["ground_truth.jsonl"] = len(truth)

        per_code = {c: sum(1 for g in truth if g["code"] == c) for c in ANOMALY_CODES}
        waybill_docs = len(
            {
                (r["operator"], r["payload"]["shippingNoteNumber"], r["payload"]["serialNumber"])
                for r in docs.waybills
            }
        )
        summary = {
            "files": files,
            "waybillDocuments": waybill_docs,
            "appFixes": app_fixes,
            "beidouFixes": files["beidou.parquet"],
            "anomalies": per_code,
        }
        manifest = {
            "generator": "simulation.generator",
            "formatVersion": 1,
            "config": config.model_dump(mode="json"),
            "counts": summary,
            "lineNumbersStartAt": 1,
            "files": [
                {"name": name, "records": files[name], "bytes": (out_dir / name).stat().st_size}
                for name in sorted(files)
            ],
            "notes": {
                "times": "wire times are Beijing time; beidou.parquet t is UTC",
                "coordinates": "positions_app.jsonl and waybill extension coordinates are GCJ02; "
                "beidou.parquet is WGS84",
                "MATCH_CASH_OR_REUSED_SERIAL": "no cash code exists in payment_means, so one bank "
                "sequenceCode is reused by two unrelated waybills' fund flows; both are labelled",
                "SEC_WEAK_ENVELOPE": "ground-truth lines of kind 'message' name file + line that the "
                "reference client must send with the published fixed SM2 ephemeral key",
                "INTAKE_REJECTED": "broken copies (detail.file/line) are sent shortly before the valid "
                "document",
            },
        }
        (out_dir / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        bar.advance(task)
    return summary


def _weak_envelopes(
    rng: np.random.Generator, records: list[dict], rejected: list[dict], n: int
) -> list[dict]:
    """Flag the first `n` accepted waybill messages of one operator as sent with a weak SM2 envelope."""
    if n <= 0:
        return []
    broken = {id(r["record"]) for r in rejected}
    by_op: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if id(r) not in broken:
            by_op.setdefault(r["operator"], []).append(i + 1)
    ops = sorted(by_op, key=lambda o: (-len(by_op[o]), o))
    if not ops:
        return []
    op = ops[int(rng.integers(min(3, len(ops))))]
    return [
        {
            "code": "SEC_WEAK_ENVELOPE",
            "kind": "message",
            "operator": op,
            "key": {"file": "waybills.jsonl", "line": line},
            "detail": {"reason": "fixed published SM2 ephemeral key (C1 04e27c3780e7…1175ee123a95a23e9b)"},
        }
        for line in by_op[op][:n]
    ]
