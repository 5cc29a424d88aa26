"""The registry rules (QUAL_*, VEHICLE_NOT_IN_NETWORK, INTAKE_UNKNOWN_PARTY) on generated waybills: checks/s, and how
many registry calls the per-day answer cache saves; then the same batch with the 运政 registry down.

A throwaway PostGIS cluster and the 运政 / national-platform simulators on free ports; one platform reports
``--vehicles`` vehicles and as many drivers, then ``--waybills`` waybills spread over them go through intake.

    .venv/bin/python bench/registry_rules.py [--waybills 2000] [--vehicles 200]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import time
import uuid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waybills", type=int, default=2000)
    ap.add_argument("--vehicles", type=int, default=200)
    args = ap.parse_args()

    import httpx
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from etl.adapters.national import NationalPlatformClient
    from etl.adapters.yunzheng import YunzhengClient
    from etl.intake import pipeline
    from etl.intake.documents import upsert_operator
    from etl.schemas import samples
    from simulation.servers.runner import serve
    from store.cluster import create_migrated_database, throwaway_server
    from supervision.rules.parties import check_parties
    from supervision.rules.qualifications import check_qualifications
    from supervision.rules.registry import Registries

    names = {"WLHY_YD1001": "电子运单上传", "WLHY_CL1001": "车辆基本信息上传", "WLHY_JSY1001": "驾驶员基本信息上传"}

    def send(s, op, ipc, payload):
        header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": names[ipc],
                  "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "b",
                  "messageSendingDateTime": "20240316093000", "ipcType": ipc}
        res = pipeline.receive(s, operator=op, header=header, payload=json.dumps(payload))
        assert res.code == 1001, res

    plates = [f"皖A{k:05d}" for k in range(args.vehicles)]
    ids_no = [f"3401041990{(k % 12) + 1:02d}{(k % 28) + 1:02d}" for k in range(args.vehicles)]
    with throwaway_server("wlhy-bench-registry-") as dsn, serve("yunzheng", None, port=0) as yz, \
            serve("national", None, port=0) as nat, httpx.Client(timeout=30) as http:
        url = create_migrated_database(dsn, "wlhy_bench_registry_" + uuid.uuid4().hex[:8])
        engine = create_engine(url)
        op_rec = samples.operator()
        http.post(f"{yz.url}/admin/records/operator_licences", json=[{
            "permitNumber": op_rec["permitNumber"], "unifiedSocialCreditIdentifier": op_rec["unifiedSocialCreditIdentifier"],
            "name": op_rec["name"], "validFrom": "20200101", "validTo": "20301231", "status": "valid"}]).raise_for_status()
        http.post(f"{yz.url}/admin/records/vehicle_certificates", json=[{
            "roadTransportCertificateNumber": f"3401049{k:05d}", "vehicleNumber": p, "vehiclePlateColorCode": "2",
            "validFrom": "20220101", "validTo": "20280101", "status": "valid" if k % 10 else "revoked"}
            for k, p in enumerate(plates)]).raise_for_status()
        http.post(f"{nat.url}/admin/records/in_network", json=[{
            "vehicleNumber": p, "vehiclePlateColorCode": "2", "inNetwork": k % 7 != 0, "since": "20230101"}
            for k, p in enumerate(plates)]).raise_for_status()
        t0 = time.perf_counter()
        with Session(engine) as s:
            op = upsert_operator(s, op_rec)
            s.commit()
            drivers = []
            for k, p in enumerate(plates):
                v = samples.vehicle() | {"vehicleNumber": p, "roadTransportCertificateNumber": f"3401049{k:05d}"}
                send(s, op, "WLHY_CL1001", v)
                d = samples.driver()
                d_id = _with_check(ids_no[k] + f"{k % 1000:03d}")
                drivers.append(d_id)
                send(s, op, "WLHY_JSY1001", d | {"drivingLicense": d_id, "qualificationCertificate": d_id})
            http.post(f"{yz.url}/admin/records/driver_certificates", json=[{
                "qualificationCertificate": d, "drivingLicense": d, "driverName": "张三", "validFrom": "20180101",
                "validTo": "20300101", "status": "valid"} for d in drivers]).raise_for_status()
            for n in range(args.waybills):
                w = copy.deepcopy(samples.waybill())
                w["shippingNoteNumber"] = f"YD2024031{n:07d}"
                k = n % args.vehicles
                w["vehicleInfo"][0]["vehicleNumber"] = plates[k]
                w["vehicleInfo"][0]["driver"][0]["drivingLicense"] = drivers[k]
                send(s, op, "WLHY_YD1001", w)
            ids = list(s.scalars(text("SELECT id FROM waybill ORDER BY id")))
        print(f"set-up: {len(plates)} vehicles + drivers, {len(ids)} waybills through intake in "
              f"{time.perf_counter() - t0:.1f} s")

        def run(label, **kw):
            reg = Registries(yunzheng=YunzhengClient(yz.url, retries=0), national=NationalPlatformClient(nat.url, retries=0),
                             today=dt.date(2024, 3, 20), **kw)
            with Session(engine) as s:
                t = time.perf_counter()
                fired, pending, calls = {}, 0, 0
                for k in range(0, len(ids), 2000):
                    part = ids[k:k + 2000]
                    check_parties(s, part)
                    out = check_qualifications(s, part, reg, queue_retries=True)
                    calls += out.calls
                    pending += sum(out.pending.values())
                    for c, n in out.fired.items():
                        fired[c] = fired.get(c, 0) + n
                s.commit()
                el = time.perf_counter() - t
            reg.close()
            print(f"{label:<34}: {len(ids):,} waybills in {el:6.2f} s → {len(ids) / el:8,.0f} waybills/s; "
                  f"registry calls {calls:,} ({calls / len(ids):.3f} per waybill); pending {pending:,}; fired {fired}")

        run("cold cache (first check of the day)")
        run("warm cache (same day, another run)")
        run("refresh (cache bypassed)", refresh=True)
        http.post(f"{yz.url}/admin/faults", json={"mode": "down"}).raise_for_status()
        run("运政 down (refresh)", refresh=True)
        engine.dispose()


def _with_check(body17: str) -> str:
    """A GB 11643 ID number: 17 digits + the check character."""
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body17 + "10X98765432"[sum(int(c) * k for c, k in zip(body17, w, strict=True)) % 11]


if __name__ == "__main__":
    main()
