"""Accuracy of trajectory verification against the generator's ground truth.

For every province × seed (default: Anhui 340000 and Jiangsu 320000, seeds 1 and 2) generates a province with
the real-fleet generator (back-to-back trips, app only while the waybill is open, GCJ-02/BD-09 apps, continuous
BeiDou for heavy vehicles, detours, hard anomaly variants), loads it into a throwaway PostGIS database, runs the
back-fill (per-waybill rules plus the cross-waybill rules), and compares the TRACK_* anomalies with
``ground_truth.jsonl`` per code:

* recall — labelled waybills of the code that got the anomaly (goal ≥ 0.95);
* precision — waybills flagged with the code that carry that label (or list it in ``alsoExpected``);
* false alarms — clean waybills (no label of any kind) with any TRACK_* anomaly (goal ≤ 2 %), also broken down
  by genuine variant (``trip_profiles.jsonl``: sparse app, BD-09, detour, back-to-back, BeiDou only, both
  sources, ...).

Per run and summed per province.

    .venv/bin/python bench/accuracy.py [--provinces 340000,320000] [--seeds 1,2] [--waybills 600] [--days 3]
                                       [--rate 0.03] [--misses]

``--misses`` also prints every missed label and every false positive per code, with the generator's detail
and the numbers the rule compared (to tell a wrong rule from a wrong truth).

``WLHY_TEST_ADMIN_DSN`` (a superuser libpq DSN) uses an existing server instead of a throwaway cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

TRACK_CODES = (
    "TRACK_MISSING", "TRACK_START_MISMATCH", "TRACK_END_MISMATCH", "TRACK_LOW_COVERAGE", "TRACK_IMPOSSIBLE_SPEED",
    "TRACK_LENGTH_IMPLAUSIBLE", "TRACK_DUPLICATED", "TRACK_SOURCE_CONFLICT", "TRACK_VEHICLE_OVERLAP",
)


def _database(admin_dsn: str) -> str:
    from store.cluster import create_migrated_database

    return create_migrated_database(admin_dsn, "wlhy_bench_accuracy_" + uuid.uuid4().hex[:8])


def evaluate(url: str, data_dir: Path, *, misses: bool = False) -> dict:
    """Compare the database's TRACK_* anomalies with the ground truth; return the figures.

    With ``misses``, print each missed label and each false positive with the truth's detail and the rule's
    numbers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    truth = [json.loads(line) for line in (data_dir / "ground_truth.jsonl").open(encoding="utf-8")]
    eng = create_engine(url)
    with Session(eng) as s:
        # (operator USCI, shippingNoteNumber, serialNumber) -> waybill id
        ids = {(r.usci, r.sn, r.serial): r.id for r in s.execute(text(
            "SELECT w.id, o.usci, w.shipping_note_number AS sn, w.serial_number AS serial "
            "FROM waybill w JOIN operator o ON o.id = w.operator_id"))}
        flagged = defaultdict(set)
        for r in s.execute(text("SELECT code, document_id FROM anomaly WHERE code LIKE 'TRACK_%' "
                                "AND status = 'open'")):
            flagged[r.code].add(r.document_id)
        verified = {r[0] for r in s.execute(text("SELECT DISTINCT waybill_id FROM verification WHERE current"))}
        detail = {}
        if misses:
            numbers = defaultdict(dict)
            for r in s.execute(text("SELECT waybill_id, rules FROM verification WHERE current")):
                for rule in r.rules:
                    numbers[r.waybill_id][rule["code"]] = rule
            for r in s.execute(text("SELECT code, document_id, evidence FROM anomaly WHERE code LIKE 'TRACK_%' "
                                    "AND status = 'open'")):
                numbers[r.document_id].setdefault("anomaly:" + r.code, r.evidence)
            detail = numbers
    eng.dispose()
    variants: dict[int, set[str]] = defaultdict(set)
    profiles = data_dir / "trip_profiles.jsonl"
    if profiles.exists():
        for line in profiles.open(encoding="utf-8"):
            p = json.loads(line)
            wid = ids.get((p["operator"], p["key"]["shippingNoteNumber"], p["key"]["serialNumber"]))
            if wid is not None:
                variants[wid].update(p["variants"])
    labelled = defaultdict(set)
    also = defaultdict(set)
    any_label = set()
    for g in truth:
        if g["kind"] != "waybill":
            continue
        wid = ids.get((g["operator"], g["key"]["shippingNoteNumber"], g["key"]["serialNumber"]))
        if wid is None:  # e.g. a rejected copy that never became a waybill
            continue
        any_label.add(wid)
        labelled[g["code"]].add(wid)
        for code in g.get("detail", {}).get("alsoExpected", []):
            also[code].add(wid)
    rows = {}
    for code in TRACK_CODES:
        tp = len(flagged[code] & labelled[code])
        fp = len(flagged[code] - labelled[code] - also[code])
        rows[code] = {"labelled": len(labelled[code]), "flagged": len(flagged[code]), "tp": tp, "fp": fp,
                      "recall": tp / len(labelled[code]) if labelled[code] else None,
                      "precision": tp / (tp + fp) if tp + fp else None}
    clean = verified - any_label
    if misses:
        _copy_numbers(url, truth, ids, labelled["TRACK_DUPLICATED"] - flagged["TRACK_DUPLICATED"], detail)
        _print_misses(truth, ids, labelled, also, flagged, detail, variants)
    any_track = set().union(*flagged.values()) if flagged else set()
    by_variant = {}
    for name in sorted({v for vs in variants.values() for v in vs}):
        ws = {w for w in clean if name in variants[w]}
        by_variant[name] = {"clean": len(ws), "false_alarms": len(ws & any_track)}
    fa_codes = defaultdict(int)
    for code in TRACK_CODES:
        fa_codes[code] = len(clean & flagged[code])
    return {"codes": rows, "clean": len(clean), "false_alarms": len(clean & any_track),
            "false_alarm_rate": len(clean & any_track) / len(clean) if clean else None,
            "verified": len(verified), "by_variant": by_variant, "false_alarm_codes": dict(fa_codes)}


def _copy_numbers(url: str, truth, ids, missed: set[int], detail: dict) -> None:
    """For each missed copy, the numbers the rule compares between it and its source (no anomaly holds them)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from trajectories.crosscheck import compare_items

    if not missed:
        return
    by_note = {(sn, serial): wid for (_, sn, serial), wid in ids.items()}
    eng = create_engine(url)
    with Session(eng) as s:
        first_item = {r.waybill_id: r.id for r in s.execute(text(
            "SELECT DISTINCT ON (waybill_id) waybill_id, id FROM waybill_vehicle ORDER BY waybill_id, seq"))}
        for g in truth:
            if g["kind"] != "waybill" or g["code"] != "TRACK_DUPLICATED":
                continue
            wid = ids.get((g["operator"], g["key"]["shippingNoteNumber"], g["key"]["serialNumber"]))
            src = g["detail"]["copiedFrom"]
            sid = by_note.get((src["shippingNoteNumber"], src["serialNumber"]))
            if wid in missed and sid is not None and wid in first_item and sid in first_item:
                detail.setdefault(wid, {})["TRACK_DUPLICATED"] = {
                    "sourceWaybillId": sid, **compare_items(s, first_item[wid], first_item[sid])}
    eng.dispose()


def _print_misses(truth, ids, labelled, also, flagged, detail, variants) -> None:
    by_wid = defaultdict(list)
    for g in truth:
        if g["kind"] == "waybill":
            wid = ids.get((g["operator"], g["key"]["shippingNoteNumber"], g["key"]["serialNumber"]))
            if wid is not None:
                by_wid[wid].append({"code": g["code"], **g.get("detail", {})})

    def show(kind, code, wid):
        d = detail.get(wid, {})
        rule = d.get(code) or d.get("anomaly:" + code)
        numbers = rule.get("numbers", rule) if isinstance(rule, dict) else rule
        print(f"  {kind} {code} waybill {wid} truth={by_wid.get(wid)} variants={sorted(variants.get(wid, ()))}")
        print(f"      rule={json.dumps(numbers, ensure_ascii=False, default=str)[:900]}")
    for code in TRACK_CODES:
        for wid in sorted(labelled[code] - flagged[code]):
            show("MISS", code, wid)
        for wid in sorted(flagged[code] - labelled[code] - also[code]):
            show("FP", code, wid)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def report(title: str, res: dict) -> None:
    """Print one result (a run or a province's sum)."""
    print(f"\n== {title}")
    print(f"{'code':<26}{'labelled':>9}{'flagged':>9}{'tp':>6}{'recall':>9}{'precision':>11}{'FA(clean)':>11}")
    for code, r in res["codes"].items():
        print(f"{code:<26}{r['labelled']:>9}{r['flagged']:>9}{r['tp']:>6}{_fmt(r['recall']):>9}"
              f"{_fmt(r['precision']):>11}{res['false_alarm_codes'].get(code, 0):>11}")
    rate = res["false_alarm_rate"]
    print(f"clean waybills: {res['clean']} of {res['verified']} verified; with any TRACK_* anomaly: "
          f"{res['false_alarms']} ({'-' if rate is None else f'{rate:.1%}'}; goal ≤ 2 %)")
    print("false alarms by genuine variant: " + "; ".join(
        f"{k} {v['false_alarms']}/{v['clean']}"
        + (f" ({v['false_alarms'] / v['clean']:.1%})" if v["clean"] else "")
        for k, v in res["by_variant"].items()))


def merge(results: list[dict]) -> dict:
    """Sum several runs' figures (recall and precision recomputed from the counts)."""
    codes = {}
    for code in TRACK_CODES:
        lab = sum(r["codes"][code]["labelled"] for r in results)
        fl = sum(r["codes"][code]["flagged"] for r in results)
        tp = sum(r["codes"][code]["tp"] for r in results)
        fp = sum(r["codes"][code]["fp"] for r in results)
        codes[code] = {"labelled": lab, "flagged": fl, "tp": tp, "fp": fp, "recall": tp / lab if lab else None,
                       "precision": tp / (tp + fp) if tp + fp else None}
    clean = sum(r["clean"] for r in results)
    fa = sum(r["false_alarms"] for r in results)
    by_variant: dict[str, dict] = {}
    for r in results:
        for k, v in r["by_variant"].items():
            d = by_variant.setdefault(k, {"clean": 0, "false_alarms": 0})
            d["clean"] += v["clean"]
            d["false_alarms"] += v["false_alarms"]
    fa_codes = {c: sum(r["false_alarm_codes"].get(c, 0) for r in results) for c in TRACK_CODES}
    return {"codes": codes, "clean": clean, "false_alarms": fa, "false_alarm_rate": fa / clean if clean else None,
            "verified": sum(r["verified"] for r in results), "by_variant": dict(sorted(by_variant.items())),
            "false_alarm_codes": fa_codes}


def run_one(province: str, seed: int, args, admin_dsn: str, work: Path) -> dict:
    """Generate, load, verify and evaluate one province × seed."""
    import datetime as dt

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from simulation.demo.load import load
    from simulation.generator import generate
    from simulation.generator.config import GeneratorConfig
    from trajectories.backfill import verify_range

    out = work / f"province-{province}-{seed}"
    cfg = GeneratorConfig.small(seed=seed, province=province, days=args.days, waybills=args.waybills,
                                vehicles=max(60, args.waybills // 4),
                                drivers=max(66, args.waybills // 4 + 6)).with_rates(args.rate)
    generate(cfg, out, progress=False)
    url = _database(admin_dsn)
    eng = create_engine(url)
    with Session(eng) as s:
        load(s, out, progress=False)
    eng.dispose()
    verify_range(url, cfg.start - dt.timedelta(days=1), cfg.start + dt.timedelta(days=cfg.days),
                 scheduler=None if args.scheduler == "local" else args.scheduler, progress=False)
    res = evaluate(url, out, misses=args.misses)
    shutil.rmtree(out, ignore_errors=True)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provinces", default="340000,320000", help="GB/T 2260 province codes")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--waybills", type=int, default=600)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.03, help="rate of every anomaly code")
    parser.add_argument("--scheduler", default="inline", help="'inline', a Dask address, or 'local'")
    parser.add_argument("--misses", action="store_true", help="print every missed label and false positive")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wlhy-bench-accuracy-"))
    stack = contextlib.ExitStack()
    try:
        from store.cluster import throwaway_server

        admin_dsn = stack.enter_context(throwaway_server())
        everything = {}
        for province in args.provinces.split(","):
            runs = []
            for seed in (int(x) for x in args.seeds.split(",")):
                res = run_one(province, seed, args, admin_dsn, work)
                report(f"province {province}, seed {seed}", res)
                runs.append(res)
                everything[f"{province}/{seed}"] = res
            total = merge(runs)
            everything[province] = total
            report(f"province {province}, all seeds", total)
        if args.json:
            args.json.write_text(json.dumps(everything, indent=1, ensure_ascii=False), encoding="utf-8")
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
