"""The dashboard in headless Chromium: time to interactive of the waybill inspector for a 10,000-fix waybill and of
the density page, and the load time of a 1 M-fix view, each with the bytes the browser received.

A throwaway PostGIS cluster holds a small generated province (one waybill's BeiDou track densified to 10,000
fixes, verified, density rolled up); the real app runs in uvicorn; Chromium is Debian's (``scripts/bootstrap.sh
--browser``). "Interactive" is: the page's marker element is in the DOM, deck.gl's canvas exists and two animation
frames have been painted after it (the map answers input from then on). Goals (issue #12): < 1.5 s, < 1.5 s, < 3 s.

The 1 M-fix view is timed to *drawn*: deck.gl builds its GPU buffers and draws in the first frames after the canvas
appears, and with software WebGL (llvmpipe by default, ``--gl swiftshader`` for Chromium's own) that first draw is a
long stall of the compositor, not of the page's
JavaScript; "drawn" is the end of the last frame gap over 150 ms once frames have flowed for a quiet second. Its
breakdown: the server's CPU to build the layout, the bytes on the wire (gzip) and decoded, the layout request's time
on the wire, the page's main-thread long tasks (JSON parse, base64 decode, React, deck.gl attribute setup) and the
CPU seconds Chromium's renderer and GPU processes spent (what load barely changes).

    .venv/bin/python bench/dashboard.py [--repeat 3] [--fixes 10000] [--million 1000000] [--playback] [--no-gzip]
                                        [--no-thin] [--gl llvmpipe|swiftshader]
    .venv/bin/python bench/dashboard.py --only-million --million 300000     # the 1 M breakdown alone, no database
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


def _network(browser) -> tuple[int, float, int]:
    """Bytes received since the last call, the seconds the page's callbacks took on the wire (request sent →
    response finished: the server's work plus transfer) and how many callback requests there were."""
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
    return total, callback_s, len(sent)


def _timed(browser, url: str, marker: str) -> tuple[float, int, float, int, float]:
    """(seconds to interactive, bytes received, callbacks' seconds on the wire, callback requests, CPU seconds of
    Chromium's renderer + GPU processes until interactive: what load barely changes)."""
    browser.get_log("performance")  # drop what came before
    browser.get("about:blank")
    time.sleep(0.5)  # the previous page's GPU work is gone
    browser.get_log("performance")
    cpu0 = _chrome_cpu(browser)
    browser.get(url)
    # navigationStart → ready, measured by the browser's own clock
    ready = browser.execute_async_script(_READY_JS, marker)  # performance.now(): ms since navigation start
    cpu1 = _chrome_cpu(browser)
    received, callback_s, n_callbacks = _network(browser)
    cpu = sum(cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in ("renderer", "gpu"))
    return float(ready) / 1000.0, received, callback_s, n_callbacks, cpu


def _million_app(n: int, playback: bool = False, thin: bool = True):
    """A bare Dash page with one layer of ``n`` fixes as binary attributes, as the inspector sends a source: framed
    on the fixes, thinned to screen resolution at that zoom (``maps.thin_indices``, at most ``maps.MAX_POINTS``)
    unless ``thin`` is off. Returns the app and how many points it draws.

    The time attribute (4 bytes a fix) only travels when the view plays back; positions stay float32 (deck.gl 9
    refuses integer position attributes, so quantising them to uint16 is not open to us)."""
    from dash import Dash, html
    from deckgl_dash import DeckGL

    from dashboard import maps

    rng = np.random.default_rng(1)
    lon = 117.2 + np.cumsum(rng.normal(0, 2e-3, n)) % 3 - 1.5
    lat = 31.8 + np.cumsum(rng.normal(0, 2e-3, n)) % 3 - 1.5
    view = maps.view_of(maps.bounds_of(lon, lat), width_px=1366, height_px=700)
    keep = maps.thin_indices(lon, lat, view["zoom"]) if thin else np.arange(n)
    app = Dash(__name__, serve_locally=True)
    layer = maps.fixes_layer("million", lon[keep], lat[keep], maps.COLORS["beidou"],
                             t_rel=keep.astype(np.float32) if playback else None)
    app.layout = html.Div([html.Div(id="million-ready"), html.Div(DeckGL(
        id="m", layers=maps.base_layers() + [layer], initial_view_state=view,
        style={"position": "relative", "width": "100%", "height": "100%"}), style={"height": "700px"},
        id="million-box")])
    return app, len(keep)


#: Injected before any page script: collects the main thread's long tasks (> 50 ms).
_LONGTASKS_JS = ("window.__longtasks = []; new PerformanceObserver(l => { for (const e of l.getEntries()) "
                 "window.__longtasks.push(e.duration); }).observe({type: 'longtask', buffered: true});")

_DRAWN_JS = """
const [marker, done] = [arguments[0], arguments[arguments.length - 1]];
function start() {
  if (!(document.getElementById(marker) && document.querySelector('canvas'))) { setTimeout(start, 10); return; }
  let last = performance.now(), drawn = null, quiet = last;
  function frame(now) {
    if (drawn === null || now - last > 150) { drawn = now; quiet = now; }  // the first frame, or the end of a stall
    last = now;
    if (now - quiet > 1000) {
      const lt = window.__longtasks || [];
      const layout = performance.getEntriesByType('resource').find(e => e.name.includes('_dash-layout'));
      done({drawn: drawn, longtaskMs: lt.reduce((a, b) => a + b, 0), layoutWireMs: layout ?
            layout.responseEnd - layout.requestStart : null, layoutEnd: layout ? layout.responseEnd : null,
            encoded: layout ? layout.encodedBodySize : null, decoded: layout ? layout.decodedBodySize : null});
    } else { requestAnimationFrame(frame); }
  }
  requestAnimationFrame(frame);
}
start();
"""


def _chrome_cpu(browser) -> dict[str, float]:
    """CPU seconds used so far by Chromium's renderer and GPU processes (Linux /proc; empty elsewhere)."""
    import os

    root = browser.service.process.pid
    try:
        stats = {int(p): Path(f"/proc/{p}/stat").read_text() for p in os.listdir("/proc") if p.isdigit()}
    except OSError:
        return {}
    children: dict[int, list[int]] = {}
    for pid, st in stats.items():
        children.setdefault(int(st.rsplit(")", 1)[1].split()[1]), []).append(pid)
    out: dict[str, float] = {"renderer": 0.0, "gpu": 0.0}
    todo, tick = list(children.get(root, [])), os.sysconf("SC_CLK_TCK")
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        kind = "gpu" if b"--type=gpu-process" in cmd else "renderer" if b"--type=renderer" in cmd else None
        if kind and pid in stats:
            f = stats[pid].rsplit(")", 1)[1].split()
            out[kind] += (int(f[11]) + int(f[12])) / tick  # utime + stime
    return out


def _timed_million(browser, url: str) -> dict[str, float]:
    browser.get("about:blank")
    time.sleep(1.0)  # the previous page's GPU work is gone
    browser.get_log("performance")
    cpu0 = _chrome_cpu(browser)
    browser.get(url)
    r = browser.execute_async_script(_DRAWN_JS, "million-ready")
    cpu1 = _chrome_cpu(browser)
    received, _, _ = _network(browser)
    return {"drawn": r["drawn"] / 1000.0, "received": received, "longtask": r["longtaskMs"] / 1000.0,
            "wire": (r["layoutWireMs"] or 0) / 1000.0, "layout_end": (r["layoutEnd"] or 0) / 1000.0,
            "encoded": r["encoded"] or 0, "decoded": r["decoded"] or 0,
            **{f"cpu_{k}": cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in ("renderer", "gpu")}}


def _million_runs(browser, n: int, repeat: int, playback: bool, gzip: bool, thin: bool = True
                  ) -> tuple[list[dict], float, int]:
    """Serve the 1 M page as the dashboard is served (uvicorn, a2wsgi, gzip) and time ``repeat`` loads; also the
    server's CPU seconds to build (thinning included) and serialise the layout once, and the points drawn."""
    from a2wsgi import WSGIMiddleware

    from api.web import dashboard_asgi

    t0 = time.process_time()
    m_app, drawn = _million_app(n, playback, thin)
    client = m_app.server.test_client()
    client.get("/")  # Dash's first request sets up its routes
    client.get("/_dash-layout")
    server_cpu = time.process_time() - t0
    port = free_port()
    server = _serve(dashboard_asgi(m_app.server) if gzip else WSGIMiddleware(m_app.server, workers=4), port)
    try:
        runs = [_timed_million(browser, f"http://127.0.0.1:{port}/") for _ in range(repeat)]
    finally:
        server.should_exit = True
    return runs, server_cpu, drawn


def _print_million(n: int, runs: list[dict], server_cpu: float, playback: bool, gzip: bool, points: int
                   ) -> None:
    med = {k: statistics.median([r[k] for r in runs]) for k in runs[0]}
    each = ", ".join(f"{r['drawn']:.2f}" for r in runs)
    print(f"{n:,}-fix view ({'positions + time' if playback else 'positions only'}, "
          f"{'gzip' if gzip else 'no gzip'}): drawn median {med['drawn']:.2f} s (runs: "
          f"{each}; goal < 3 s)")
    print(f"  points drawn {points:,} of {n:,} fixes in the view"
          + (" (thinned to screen resolution at the view's zoom, maps.thin_indices)" if points < n else ""))
    print(f"  layout {med['decoded'] / 1e6:.2f} MB decoded, {med['encoded'] / 1e6:.2f} MB on the wire "
          f"(page total {med['received'] / 1e6:.2f} MB); server CPU to build it {server_cpu:.2f} s")
    print(f"  layout request on the wire {med['wire']:.2f} s, received at {med['layout_end']:.2f} s; main-thread "
          f"long tasks {med['longtask']:.2f} s (parse, base64 decode, React, deck.gl setup)")
    print(f"  Chromium CPU during the load: renderer {med['cpu_renderer']:.2f} s, GPU process "
          f"{med['cpu_gpu']:.2f} s; drawn − layout received − long tasks = "
          f"{med['drawn'] - med['layout_end'] - med['longtask']:.2f} s waiting on the GPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fixes", type=int, default=10_000)
    ap.add_argument("--million", type=int, default=1_000_000)
    ap.add_argument("--playback", action="store_true", help="send the 1 M view's time attribute too")
    ap.add_argument("--no-gzip", action="store_true", help="serve the dashboard uncompressed")
    ap.add_argument("--only-million", action="store_true", help="the 1 M view alone (no database)")
    ap.add_argument("--no-thin", action="store_true", help="draw every fix of the 1 M view (no thinning)")
    ap.add_argument("--gl", choices=("swiftshader", "llvmpipe"), default=None,
                    help="Chromium's software WebGL (default: WLHY_BROWSER_GL or llvmpipe)")
    args = ap.parse_args()

    from tests.dashboard.conftest import new_browser

    if args.only_million:
        browser = new_browser(gl=args.gl)
        browser.set_script_timeout(300)
        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _LONGTASKS_JS})
        try:
            runs, server_cpu, points = _million_runs(browser, args.million, args.repeat, args.playback,
                                                     not args.no_gzip, not args.no_thin)
        finally:
            browser.quit()
        print(f"headless Chromium (software WebGL: {_gl_name(args.gl)}), load average {_loadavg()}")
        _print_million(args.million, runs, server_cpu, args.playback, not args.no_gzip, points)
        return

    import tempfile

    from tests.dashboard.conftest import browser_login

    if args.no_gzip:  # the whole dashboard served uncompressed, to compare
        from a2wsgi import WSGIMiddleware

        import api.web

        api.web.dashboard_asgi = lambda flask_app: WSGIMiddleware(flask_app, workers=4)
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
        browser = new_browser(gl=args.gl)
        browser.set_script_timeout(120)
        try:
            browser_login(browser, base, username, password)
            results = {}
            for name, path, marker in (("inspector", f"/dashboard/waybill?id={wid}", "verdict-1"),
                                       ("density", "/dashboard/density", "density-summary")):
                runs = [_timed(browser, base + path, marker) for _ in range(args.repeat + 1)][1:]  # first warms
                results[name] = runs
            browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _LONGTASKS_JS})
            million, server_cpu, points = _million_runs(browser, args.million, args.repeat, args.playback,
                                                        not args.no_gzip, not args.no_thin)
        finally:
            browser.quit()
            server.should_exit = True
    goals = {"inspector": 1.5, "density": 1.5}
    labels = {"inspector": f"waybill inspector, {args.fixes:,}-fix waybill (+ its app fixes)",
              "density": "density page, whole province (res by zoom)"}
    print(f"headless Chromium (software WebGL: {_gl_name(args.gl)}), {Path('/proc/cpuinfo').read_text().count('processor')} cores, "
          f"load average {_loadavg()}")
    for name, runs in results.items():
        secs = [r[0] for r in runs]
        print(f"{labels[name]:<55} median {statistics.median(secs):6.2f} s  (runs: "
              f"{', '.join(f'{s:.2f}' for s in secs)}; goal < {goals[name]} s)  received "
              f"{statistics.median([r[1] for r in runs]) / 1e6:7.2f} MB, of which callbacks "
              f"{statistics.median([r[2] for r in runs]):.2f} s on the wire "
              f"({statistics.median([r[3] for r in runs]):.0f} requests); Chromium renderer + GPU CPU "
              f"{statistics.median([r[4] for r in runs]):.2f} s")
    _print_million(args.million, million, server_cpu, args.playback, not args.no_gzip, points)


def _gl_name(gl: str | None) -> str:
    import os

    return gl or os.environ.get("WLHY_BROWSER_GL", "llvmpipe")


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


if __name__ == "__main__":
    main()
