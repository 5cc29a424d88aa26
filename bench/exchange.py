"""The exchange end to end: SM crypto, fixes/s and document messages/s through /exchange/send, forwarding.

The server runs as in production (``uvicorn --workers <cores>``) against a scratch database on the local cluster
(or ``WLHY_DATABASE_URL``'s server). Envelopes are sealed before the clock starts, so the figures are the
server's; clients are threads posting concurrently. The same rows are then written by raw binary COPY into the
same indexed ``position`` table, in the same run, for the ratio.

    .venv/bin/python bench/exchange.py [--clients 4] [--messages 24] [--documents 1000] [--forward-seconds 60]

Prints fixes/s through the exchange and the same rows by raw COPY (goal ≥ 0.5×), messages/s per document kind
(vehicles, drivers, waybills, fund flows; goal ≥ 400 with 2 workers), then documents/s the Ministry forwarder
delivers from the outbox the run filled.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import uuid

import crypto as crypto_bench  # bench/crypto.py
import httpx
import load_positions as positions_bench  # bench/load_positions.py
import numpy as np
import psutil
import psycopg
from sqlalchemy.orm import Session

from core.beijing import OFFSET_S
from core.config import get_settings
from etl.exchange import accounts, keys
from etl.exchange.client import ExchangeClient
from etl.intake.documents import upsert_operator
from etl.schemas import samples, usci_check_char
from etl.schemas.checksums import id_check_char
from store.cluster import create_migrated_database
from store.db import get_engine, local_cluster, psycopg_dsn
from store.positions import SOURCE_BEIDOU

BENCH_DB = "wlhy_bench_exchange"


def _database() -> tuple[str, str]:
    settings = get_settings()
    admin = psycopg_dsn(settings.database_url) if settings.database_url else None
    if admin is None:
        cluster = local_cluster()
        cluster.start()
        admin = cluster.dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    url = create_migrated_database(admin, BENCH_DB)
    dsn = psycopg.conninfo.make_conninfo(admin, dbname=BENCH_DB)
    return url, dsn


def _server(url: str, port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        env=os.environ | {"WLHY_DATABASE_URL": url},
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def _account(url: str) -> tuple[str, str, str]:
    body = "9134010000" + uuid.uuid4().hex[:7].upper()
    body = "".join(c if c in "0123456789ABCDEFGHJKLMNPQRTUWXY" else "1" for c in body)
    with Session(get_engine(url)) as s:
        op = upsert_operator(s, {"unifiedSocialCreditIdentifier": body + usci_check_char(body), "name": "bench"})
        issued = accounts.issue(db_session=s, operator=op, sandbox=False, one_time=False)
        public = keys.ensure_current(db_session=s).public_key_hex
        s.commit()
        return issued.account.user_name, issued.password, public


def _positions_payload(i: int, n: int = 10_000) -> tuple[dict, dict]:
    """A 10,000-fix WLHY_WZ1001 payload of one vehicle every 10 s (WGS-84), and the same rows for raw COPY.

    Recent times (the exchange takes a platform's fixes from the last 30 days only, at most 3 days per message).
    """
    rng = np.random.default_rng(i)
    t0 = np.datetime64(np.datetime64("now", "s") - np.timedelta64(2, "D"), "h") + np.timedelta64(i % 5, "h")
    t = t0 + np.arange(n) * np.timedelta64(10, "s")
    lon = 117.2 + np.cumsum(rng.normal(0, 2e-4, n))
    lat = 31.8 + np.cumsum(rng.normal(0, 2e-4, n))
    beijing = (t + np.timedelta64(OFFSET_S, "s")).astype(str)
    stamps = np.char.replace(np.char.replace(np.char.replace(beijing, "-", ""), "T", ""), ":", "")
    plate = f"皖B{i:05d}"
    payload = {"vehicleNumber": plate, "vehiclePlateColorCode": "2", "shippingNoteInfos": [], "event": "send",
               "coordinateSystem": "WGS84",
               "locations": [{"dateTime": s, "longitude": round(x, 7), "latitude": round(y, 7), "speed": 60.0,
                              "direction": 90.0} for s, x, y in zip(stamps.tolist(), lon.tolist(), lat.tolist())]}
    rows = {"t": t.astype("datetime64[us]"), "vehicle_number": np.array([plate] * n, dtype=object),
            "lon": lon, "lat": lat, "speed_kmh": np.full(n, 60, np.float32), "direction": np.full(n, 90, np.float32)}
    return payload, rows


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process tree: the process, its live children, and its reaped children."""
    try:
        root = psutil.Process(pid)
        own = root.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in root.children(recursive=True):
            try:
                t = child.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


def _postmaster_pid(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:  # asked while the backend lives
        return psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0]).ppid()


def _load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def _post_all(base: str, envelopes: list[bytes], clients: int) -> tuple[float, list[int]]:
    codes: list[int] = []
    lock = threading.Lock()
    queue = list(envelopes)

    def worker() -> None:
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                code = http.post(f"{base}/exchange/send", content=body).json()["code"]
                with lock:
                    codes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - start, codes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--messages", type=int, default=24, help="10,000-fix messages")
    p.add_argument("--documents", type=int, default=1000, help="messages of each document kind")
    p.add_argument("--forward-seconds", type=float, default=60.0, help="longest the forwarder drain runs")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--port", type=int, default=18765)
    p.add_argument("--crypto-seconds", type=float, default=1.0)
    args = p.parse_args()

    print("== SM crypto (one core) ==")
    sys.argv = [sys.argv[0], "--seconds", str(args.crypto_seconds), "--repeat", "3"]
    crypto_bench.main()

    url, dsn = _database()
    # One platform account per client: the exchange limits each account to 200 messages/s (RateLimiter).
    creds = [_account(url) for _ in range(args.clients)]
    base = f"http://127.0.0.1:{args.port}"
    server = _server(url, args.port, args.workers)
    try:
        platforms = [ExchangeClient(base, user, password, public) for user, password, public in creds]
        for c in platforms:
            c.login()
        client = platforms[0]
        print(f"\n== /exchange/send, uvicorn --workers {args.workers}, {args.clients} concurrent clients ==")
        postmaster = _postmaster_pid(dsn)

        def cpu_now() -> tuple[float, float]:  # (server workers, PostgreSQL backends): barely depends on load
            return _tree_cpu_s(server.pid), _tree_cpu_s(postmaster)
        payloads = [_positions_payload(i) for i in range(args.messages)]
        envs = [json.dumps(client.envelope("WLHY_WZ1001", pl), ensure_ascii=False).encode() for pl, _ in payloads]
        print(f"load average before: {_load()}")
        elapsed, codes = _post_all(base, envs, args.clients)
        fixes = sum(len(pl["locations"]) for pl, _ in payloads)
        ok = codes.count(1001)
        print(f"positions: {len(envs)} messages × 10,000 fixes in {elapsed:.2f} s → {fixes / elapsed:,.0f} fixes/s, "
              f"{elapsed / len(envs) * 1000 * args.clients:,.0f} ms per message per client; {ok}/{len(codes)} "
              f"answered 1001 (envelope {len(envs[0]) / 1e6:.2f} MB)")
        rows = {k: np.concatenate([r[k] for _, r in payloads]) for k in payloads[0][1]}
        rows |= {"plate_color": "2", "source": SOURCE_BEIDOU}
        copy_s = positions_bench.run_raw_copy(dsn, rows)
        print(f"raw binary COPY of the same {fixes:,} rows into the same indexed table: {fixes / copy_s:,.0f} rows/s")
        print(f"ratio exchange / raw COPY: {copy_s / elapsed:.2f}  (goal ≥ 0.5)")

        # Document messages of the four kinds, each a new document (its own natural key).
        doc_total, doc_elapsed, doc_cpu = 0, 0.0, 0.0
        for ipc_type, make in (("WLHY_CL1001", _vehicle), ("WLHY_JSY1001", _driver), ("WLHY_YD1001", _waybill),
                               ("WLHY_ZJ1001", _fund_flow)):
            envs = [json.dumps(platforms[i % len(platforms)].envelope(ipc_type, make(i)), ensure_ascii=False).encode()
                    for i in range(args.documents)]
            (app0, db0), load0 = cpu_now(), _load()
            elapsed, codes = _post_all(base, envs, args.clients)
            (app1, db1) = cpu_now()
            doc_total, doc_elapsed = doc_total + len(envs), doc_elapsed + elapsed
            doc_cpu += (app1 - app0) + (db1 - db0)
            print(f"{ipc_type}: {len(envs)} messages in {elapsed:.2f} s → {len(envs) / elapsed:,.0f} messages/s; "
                  f"{codes.count(1001)}/{len(codes)} answered 1001; CPU per message: server workers "
                  f"{(app1 - app0) / len(envs) * 1000:.2f} ms + PostgreSQL {(db1 - db0) / len(envs) * 1000:.2f} ms; "
                  f"load {load0} → {_load()}")
        print(f"documents (all four kinds): {doc_total / doc_elapsed:,.0f} messages/s  (goal ≥ 400); "
              f"{doc_cpu / doc_total * 1000:.2f} ms CPU per message (server + PostgreSQL) → at most "
              f"{(os.cpu_count() or 2) / (doc_cpu / doc_total):,.0f} messages/s on {os.cpu_count()} cores alone")
    finally:
        server.terminate()
        server.wait(timeout=20)
    _forward(url, args.forward_seconds, doc_total / doc_elapsed if doc_elapsed else None)
    print(f"load average after: {_load()}")


def _forward(url: str, max_seconds: float, intake_rate: float | None = None) -> None:
    """Drain the outbox the run filled to a Ministry simulator (in this process), as ``wlhy forward`` does."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import sessionmaker

    from core.config import Settings
    from etl.exchange import crypto
    from etl.forwarder import MinistryClient
    from etl.forwarder import worker as forwarder
    from simulation.servers.runner import MinistryAccess, serve
    from store.models import Outbox

    private, public = crypto.generate_keypair()
    sim = serve("ministry", ministry=MinistryAccess(private, accounts={"province": "bench"}), port=0)
    settings = Settings(ministry_url=sim.url, ministry_user_name="province", ministry_password="bench",
                        ministry_public_key_hex=public)
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    with factory() as s:
        due = s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status.in_(forwarder.DUE)))
    print(f"\n== forwarder → Ministry simulator (in this process), batches of {settings.ministry_batch_size}, "
          f"{forwarder.SEND_CONCURRENCY} concurrent sends ==")
    acked, start, cpu0 = 0, time.perf_counter(), time.process_time()
    with MinistryClient(settings) as ministry:
        while time.perf_counter() - start < max_seconds:
            r = forwarder.drain_once(factory, ministry, limit=200)
            acked += r.acked
            if r.claimed == 0 or r.unavailable:
                break
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    print(f"forwarder CPU (this process: forwarder and the simulated Ministry, which decrypts every envelope): "
          f"{cpu / max(acked, 1) * 1000:.2f} ms per document; load {_load()}")
    print(f"forwarded {acked:,} of {due:,} outbox rows (documents; 10,000-fix messages count one) in {elapsed:.2f} s "
          f"→ {acked / elapsed:,.0f} documents/s"
          + (f", {acked / elapsed / intake_rate:.1f}× the intake rate above (goal ≥ 1)" if intake_rate else ""))
    sim.stop()


def _vehicle(i: int) -> dict:
    v = samples.vehicle()
    v["vehicleNumber"] = f"皖C{i:05d}"
    return v


def _driver(i: int) -> dict:
    d = samples.driver()
    # A valid GB 11643 number (a real birth date), so the run measures a clean driver, not a QUAL_ID_CHECKSUM one.
    born = dt.date(1990, 1, 1) + dt.timedelta(days=i // 1000)
    body = f"340104{born:%Y%m%d}{i % 1000:03d}"
    d["drivingLicense"] = d["qualificationCertificate"] = body + id_check_char(body)
    return d


def _waybill(i: int) -> dict:
    wb = samples.waybill()
    wb["shippingNoteNumber"] = "YD" + uuid.uuid4().hex[:12]
    return wb


def _fund_flow(i: int) -> dict:
    ff = samples.fund_flow()
    ff["documentNumber"] = "ZJ" + uuid.uuid4().hex[:12]
    for k, item in enumerate(ff["financiallist"]):
        item["sequenceCode"] = f"{i:012d}{k:04d}"
    return ff


if __name__ == "__main__":
    main()
