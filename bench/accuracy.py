"""Accuracy of trajectory verification against the generator's ground truth.

Generates a province, loads it into a throwaway PostGIS database, runs the back-fill (per-waybill rules plus the
cross-waybill rules), and compares the TRACK_* anomalies with ``ground_truth.jsonl`` per code:

* recall — labelled waybills of the code that got the anomaly (goal ≥ 0.95);
* precision — waybills flagged with the code that carry that label (or list it in ``alsoExpected``);
* false alarms — clean waybills (no label of any kind) with any TRACK_* anomaly (goal ≤ 2 %).

    .venv/bin/python bench/accuracy.py [--waybills 1000] [--days 3] [--rate 0.02]

``WLHY_TEST_ADMIN_DSN`` (a superuser libpq DSN) uses an existing server instead of a throwaway cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

TRACK_CODES = (
    "TRACK_MISSING", "TRACK_START_MISMATCH", "TRACK_END_MISMATCH", "TRACK_LOW_COVERAGE", "TRACK_IMPOSSIBLE_SPEED",
    "TRACK_LENGTH_IMPLAUSIBLE", "TRACK_DUPLICATED", "TRACK_SOURCE_CONFLICT", "TRACK_VEHICLE_OVERLAP",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database(admin_dsn: str) -> str:
    from store.cluster import create_migrated_database

    return create_migrated_database(admin_dsn, "wlhy_bench_accuracy_" + uuid.uuid4().hex[:8])


def evaluate(url: str, data_dir: Path) -> dict:
    """Compare the database's TRACK_* anomalies with the ground truth; return the figures."""
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
    eng.dispose()
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
        rows[code] = {"labelled": len(labelled[code]), "flagged": len(flagged[code]), "tp": tp,
                      "recall": tp / len(labelled[code]) if labelled[code] else None,
                      "precision": tp / (tp + fp) if tp + fp else None}
    clean = verified - any_label
    any_track = set().union(*flagged.values()) if flagged else set()
    return {"codes": rows, "clean": len(clean), "false_alarms": len(clean & any_track),
            "false_alarm_rate": len(clean & any_track) / len(clean) if clean else None,
            "verified": len(verified)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waybills", type=int, default=1000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.02, help="rate of every anomaly code")
    parser.add_argument("--scheduler", default="inline", help="'inline', a Dask address, or 'local'")
    args = parser.parse_args()

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from simulation.demo.load import load
    from simulation.generator import generate
    from simulation.generator.config import GeneratorConfig
    from trajectories.backfill import verify_range

    work = Path(tempfile.mkdtemp(prefix="wlhy-bench-accuracy-"))
    cluster = None
    try:
        cfg = GeneratorConfig.small(days=args.days, waybills=args.waybills, vehicles=max(60, args.waybills // 4),
                                    drivers=max(66, args.waybills // 4 + 6)).with_rates(args.rate)
        generate(cfg, work / "province", progress=False)
        admin_dsn = os.environ.get("WLHY_TEST_ADMIN_DSN")
        if not admin_dsn:
            from store.cluster import Cluster

            cluster = Cluster(data_dir=work / "pg", port=_free_port(), fast=True)
            cluster.start()
            admin_dsn = cluster.dsn()
        url = _database(admin_dsn)
        eng = create_engine(url)
        with Session(eng) as s:
            load(s, work / "province", progress=False)
        eng.dispose()
        import datetime as dt

        verify_range(url, cfg.start - dt.timedelta(days=1), cfg.start + dt.timedelta(days=cfg.days),
                     scheduler=None if args.scheduler == "local" else args.scheduler, progress=False)
        res = evaluate(url, work / "province")
        print(f"{'code':<26}{'labelled':>9}{'flagged':>9}{'tp':>6}{'recall':>9}{'precision':>11}")
        for code, r in res["codes"].items():
            fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"{code:<26}{r['labelled']:>9}{r['flagged']:>9}{r['tp']:>6}{fmt(r['recall']):>9}"
                  f"{fmt(r['precision']):>11}")
        rate = res["false_alarm_rate"]
        print(f"clean waybills: {res['clean']} of {res['verified']} verified; with any TRACK_* anomaly: "
              f"{res['false_alarms']} ({'-' if rate is None else f'{rate:.1%}'}; goal ≤ 2 %)")
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
