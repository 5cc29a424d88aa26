"""``wlhy demo up`` for real on a tiny province (own var dir and ports): the API answers, the statistics and the
ranking have rows for the admin, every role has a demo user, the county user sees an operator, the alarms' tick
is queued, the startup message names the dashboard, and Ctrl-C stops everything."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console
from sqlalchemy import create_engine, text

from simulation.demo.up import generate_province
from store.cluster import migration_url
from tests.conftest import _free_port, make_database


def test_demo_up_serves_statistics_ranking_and_stops_cleanly(pg_admin_dsn, tmp_path):
    url = make_database(pg_admin_dsn)
    generate_province(tmp_path / "demo", seed=7, console=Console(file=io.StringIO()), operators=2, vehicles=10,
                      drivers=12, days=2, waybills=30, start=dt.date(2026, 10, 1))  # fixed days: periods below
    port = _free_port()
    sims = {k: _free_port() for k in ("MINISTRY", "YUNZHENG", "NATIONAL", "TAX", "INSURANCE")}
    env = dict(os.environ) | {"WLHY_DATABASE_URL": url, "WLHY_MIGRATION_DATABASE_URL": migration_url(url),
                              "WLHY_VAR_DIR": str(tmp_path), "WLHY_PORT": str(port), "WLHY_ADMIN_PASSWORD": "demo-Admin-1",
                              "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    env |= {f"WLHY_{k}_URL": f"http://127.0.0.1:{p}" for k, p in sims.items()}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "wlhy"), "demo", "up", "--workers", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while not any("verifying" in ln for ln in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.5)
        log = "".join(lines)
        assert f"{base}/dashboard/" in log and f"{base}/docs" in log
        assert "statistics: 2026-10-0" in log and "rankings:" in log
        creds = {c["username"]: c for c in json.loads((tmp_path / "demo-credentials.json").read_text())}
        assert {c["role"] for c in creds.values()} == {"admin", "province", "city", "county", "analyst", "operator"}

        def login(name: str) -> dict:
            r = httpx.post(f"{base}/api/v1/auth/login", json={"username": name, "password": creds[name]["password"]})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        admin = login("admin")
        scale = httpx.get(f"{base}/api/v1/stats/scale", params={"from": "2026-10-01", "to": "2026-10-03"},
                          headers=admin).json()
        assert sum(r["waybills"] for r in scale["rows"]) >= 25
        ranking = httpx.get(f"{base}/api/v1/rankings", params={"period": "2026-10"}, headers=admin).json()
        assert len(ranking["items"]) == 2
        county = httpx.get(f"{base}/api/v1/operators", headers=login("county")).json()
        assert county["total"] >= 1
        assert httpx.get(f"{base}/dashboard/").status_code < 400 or httpx.get(f"{base}/dashboard/").status_code == 302
        with create_engine(url).connect() as c:
            assert c.execute(text("SELECT count(*) FROM job WHERE kind = 'alarms_tick'")).scalar_one() >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    assert rc == 0
    try:
        httpx.get(f"{base}/healthz", timeout=1)
        raise AssertionError("the app still answers after Ctrl-C")
    except httpx.HTTPError:
        pass
