"""The dashboard in headless Chromium: time to interactive of the waybill inspector for a 10,000-fix waybill and of
the density page, and the load time of a 1 M-fix view, each with the bytes the browser received.

A throwaway PostGIS cluster holds a small generated province (one waybill's BeiDou track densified to 10,000
fixes, verified, density rolled up); the real app runs in uvicorn; Chromium is Debian's (``scripts/bootstrap.sh
--browser``). "Interactive" is: the page's marker element is in the DOM, deck.gl's canvas exists and two animation
frames have been painted after it (the map answers input from then on). Goals (issue #12): < 1.5 s, < 1.5 s, < 3 s.

    .venv/bin/python bench/dashboard.py [--repeat 3] [--fixes 10000] [--million 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import uvicorn
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.main import create_app
from auth import service as auth_service
from core.beijing import BEIJING
from simulation.demo.load import load
from simulation.generator import generate
from simulation.generator.config import GeneratorConfig
from store.cluster import create_migrated_database, free_port, throwaway_server
from store.db import psycopg_dsn
from store.models import Position, WaybillVehicle
from store.positions import SOURCE_BEIDOU, load_positions
from supervision.statistics.density import rollup_density
from trajectories.fixes import fixes_for_item
from trajectories.verification import verify_waybill

_READY_JS = """
const [marker, done] = [arguments[0], arguments[arguments.length - 1]];
function check() {
  if (document.getElementById(marker) && document.querySelector('canvas')) {
    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())));
  } else { setTimeout(check, 10); }
}
check();
"""


def _densify(session: Session, url: str, n_fixes: int) -> int:
    """Give the busiest waybill's vehicle ``n_fixes`` BeiDou fixes over its window (interpolated along its
    track); returns the waybill id."""
    item = session.execute(
        select(WaybillVehicle).join(Position, (Position.vehicle_number == WaybillVehicle.vehicle_number)
                                    & (Position.t.between(WaybillVehicle.despatch_at, WaybillVehicle.receipt_at)))
        .group_by(WaybillVehicle.id).order_by(func.count().desc()).limit(1)).scalar_one()
    beidou = fixes_for_item(session, item)[SOURCE_BEIDOU]
    t = beidou["t"].to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6
    lon, lat = beidou["lon"].to_numpy(dtype=float), beidou["lat"].to_numpy(dtype=float)
    tt = np.linspace(t[0], t[-1], n_fixes) + 0.5  # between the existing fixes: all new rows
    cols = {"t": (tt * 1e6).astype("int64").astype("datetime64[us]"), "lon": np.interp(tt, t, lon),
            "lat": np.interp(tt, t, lat), "vehicle_number": item.vehicle_number, "plate_color": item.plate_color,
            "source": SOURCE_BEIDOU, "speed_kmh": 60.0, "direction": 0.0}
    with psycopg.connect(psycopg_dsn(url)) as conn:
        load_positions(conn, cols)
        conn.commit()
    return item.waybill_id


def _prepare(admin_dsn: str, n_fixes: int, work: Path) -> tuple[str, int]:
    url = create_migrated_database(admin_dsn, "wlhy_bench_dash")
    generate(GeneratorConfig.small(days=2, waybills=120, vehicles=60, drivers=66), work, progress=False)
    eng = create_engine(url)
    with Session(eng) as s:
        load(s, work, progress=False)
        s.commit()
        wid = _densify(s, url, n_fixes)
        verify_waybill(s, wid)
        t0, t1 = s.execute(select(func.min(Position.t), func.max(Position.t))).one()
        day = t0.astimezone(BEIJING).date()
        while day <= t1.astimezone(BEIJING).date():
            rollup_density(s, day)
            day += dt.timedelta(days=1)
        s.commit()
    eng.dispose()
    return url, wid


def _serve(app, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def _network(browser) -> tuple[int, float]:
    """Bytes received since the last call, and the seconds the page's callbacks took on the wire (request sent →
    response finished: the server's work plus transfer)."""
    total, sent, callback_s = 0, {}, 0.0
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg.get("method") == "Network.requestWillBeSent" and "_dash-update-component" in params["request"]["url"]:
            sent[params["requestId"]] = params["timestamp"]
        if msg.get("method") == "Network.loadingFinished":
            total += int(params.get("encodedDataLength", 0))
            if params["requestId"] in sent:
                callback_s += params["timestamp"] - sent[params["requestId"]]
    return total, callback_s


def _timed(browser, url: str, marker: str) -> tuple[float, int]:
    browser.get_log("performance")  # drop what came before
    browser.get("about:blank")
    browser.get_log("performance")
    browser.get(url)
    # navigationStart → ready, measured by the browser's own clock
    ready = browser.execute_async_script(_READY_JS, marker)  # performance.now(): ms since navigation start
    received, callback_s = _network(browser)
    return float(ready) / 1000.0, received, callback_s


def _million_app(n: int):
    """A bare Dash page with one layer of ``n`` fixes as binary attributes (what the inspector sends per source)."""
    from dash import Dash, html
    from deckgl_dash import DeckGL

    from dashboard import maps

    rng = np.random.default_rng(1)
    lon = 117.2 + np.cumsum(rng.normal(0, 2e-3, n)) % 3 - 1.5
    lat = 31.8 + np.cumsum(rng.normal(0, 2e-3, n)) % 3 - 1.5
    app = Dash(__name__, serve_locally=True)
    layer = maps.fixes_layer("million", lon, lat, maps.COLORS["beidou"], t_rel=np.arange(n, dtype=np.float32))
    app.layout = html.Div([html.Div(id="million-ready"), html.Div(DeckGL(
        id="m", layers=maps.base_layers() + [layer], initial_view_state=maps.province_view(),
        style={"position": "relative", "width": "100%", "height": "100%"}), style={"height": "700px"})])
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fixes", type=int, default=10_000)
    ap.add_argument("--million", type=int, default=1_000_000)
    args = ap.parse_args()

    import tempfile

    from tests.dashboard.conftest import browser_login, new_browser

    with tempfile.TemporaryDirectory() as tmp, throwaway_server("wlhy-bench-dash-") as admin_dsn:
        url, wid = _prepare(admin_dsn, args.fixes, Path(tmp))
        port = free_port()
        server = _serve(create_app(url), port)
        base = f"http://127.0.0.1:{port}"
        username, password = f"bench-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
        with Session(create_engine(url)) as s:
            auth_service.create(db_session=s, username=username, password=password, role="province",
                                division_code="340000")
            s.commit()
        browser = new_browser()
        browser.set_script_timeout(120)
        try:
            browser_login(browser, base, username, password)
            results = {}
            for name, path, marker in (("inspector", f"/dashboard/waybill?id={wid}", "verdict-1"),
                                       ("density", "/dashboard/density", "density-summary")):
                runs = [_timed(browser, base + path, marker) for _ in range(args.repeat + 1)][1:]  # first warms
                results[name] = runs
            m_port = free_port()
            m_app = _million_app(args.million)
            from werkzeug.serving import make_server

            m_server = make_server("127.0.0.1", m_port, m_app.server, threaded=True)
            threading.Thread(target=m_server.serve_forever, daemon=True).start()
            results["million"] = [_timed(browser, f"http://127.0.0.1:{m_port}/", "million-ready")
                                  for _ in range(args.repeat)]
            m_server.shutdown()
        finally:
            browser.quit()
            server.should_exit = True
    goals = {"inspector": 1.5, "density": 1.5, "million": 3.0}
    labels = {"inspector": f"waybill inspector, {args.fixes:,}-fix waybill (+ its app fixes)",
              "density": "density page, whole province (res 7)",
              "million": f"{args.million:,}-fix view (binary attributes)"}
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"headless Chromium (software WebGL), {Path('/proc/cpuinfo').read_text().count('processor')} cores, "
          f"load average {load}")
    for name, runs in results.items():
        secs = [r[0] for r in runs]
        print(f"{labels[name]:<55} median {statistics.median(secs):6.2f} s  (runs: "
              f"{', '.join(f'{s:.2f}' for s in secs)}; goal < {goals[name]} s)  received "
              f"{statistics.median([r[1] for r in runs]) / 1e6:7.2f} MB, of which callbacks "
              f"{statistics.median([r[2] for r in runs]):.2f} s on the wire")


if __name__ == "__main__":
    main()
