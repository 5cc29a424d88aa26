"""The dashboard through a real uvicorn server and real headless Chromium (Debian's chromium + chromium-driver,
``scripts/bootstrap.sh --browser``), on a small generated province loaded, verified and rolled up once.

Browser tests skip with a message when no Chromium is installed; the HTTP tests run everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from api.main import create_app
from core.beijing import BEIJING
from simulation.demo.load import load
from store.models import Operator, Position, Waybill
from supervision.alarms import service as alarms
from supervision.statistics import rollup
from supervision.statistics.density import rollup_density
from tests.conftest import live_server, make_database, user_maker
from trajectories.crosscheck import crosscheck_range
from trajectories.verification import verify_waybill

SCREENSHOTS = Path(__file__).resolve().parents[1] / "_screenshots"




@pytest.fixture(scope="session")
def db_url(pg_admin_dsn, province_dir) -> str:
    """The province loaded, every waybill verified, cross-checks run, density rolled up (committed)."""
    url = make_database(pg_admin_dsn)
    eng = create_engine(url)
    with Session(eng) as s:
        load(s, province_dir, progress=False)
        for wid in s.scalars(select(Waybill.id).order_by(Waybill.id)).all():
            verify_waybill(s, wid)
        t0, t1 = s.execute(select(func.min(Position.t), func.max(Position.t))).one()
        d0, d1 = t0.astimezone(BEIJING).date(), t1.astimezone(BEIJING).date()
        crosscheck_range(s, d0, d1)
        day = d0
        while day <= d1:
            rollup_density(s, day)
            day += dt.timedelta(days=1)
        _rollups_and_alarms(s, d0, d1)
        s.commit()
    eng.dispose()
    return url


def _rollups_and_alarms(s: Session, d0: dt.date, d1: dt.date) -> None:
    """Scale and OD roll-ups and alarms, for the statistics, flows and alarms pages."""
    rollup.rebuild(s, d0, d1, density=False)
    saved = alarms.MIN_DOCUMENTS
    alarms.MIN_DOCUMENTS = 1  # 30 waybills: let the small province raise alarms to work through
    try:
        alarms.evaluate(s)
    finally:
        alarms.MIN_DOCUMENTS = saved


@pytest.fixture(scope="session")
def engine(db_url):
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def live_url(db_url):
    with live_server(create_app(db_url)) as url:
        yield url


@pytest.fixture(scope="session")
def make_user(engine):
    """Create committed users (the live server sees them); returns (username, password)."""
    return user_maker(engine)


@pytest.fixture(scope="session")
def facts(engine, ground_truth) -> dict:
    """Waybills the tests open: one whose speed rule fired, and which operators and counties exist."""
    with Session(engine) as s:
        def by_code(code):
            note = next(g["key"]["shippingNoteNumber"] for g in ground_truth if g["code"] == code)
            return s.scalars(select(Waybill).where(Waybill.shipping_note_number == note)).one()

        speed = by_code("TRACK_IMPOSSIBLE_SPEED")
        op = s.get(Operator, speed.operator_id)
        other_ops = s.scalars(select(Operator).where(Operator.id != op.id, Operator.is_sandbox.is_(False))).all()
        other_county = next(o.division_code for o in other_ops if o.division_code[:6] != op.division_code[:6])
        return {"speed_id": speed.id, "speed_number": speed.shipping_note_number, "operator_id": op.id,
                "county": op.division_code, "other_operator_id": other_ops[0].id, "other_county": other_county}


def http_login(base: str, username: str, password: str) -> httpx.Client:
    """An HTTP client logged in to the dashboard (its cookie set by the login form)."""
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    r = client.post("/dashboard/login", data={"username": username, "password": password})
    assert r.status_code == 302, r.text
    return client


# --- the browser ------------------------------------------------------------------------------------------------

def _chromium() -> tuple[str, str] | None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


#: Software WebGL back ends of headless Chromium (no GPU here): Mesa's llvmpipe through ANGLE on EGL (the
#: default: libegl-mesa0 / libgl1-mesa-dri, which Debian's chromium pulls in; bench/dashboard.py measured it at
#: a fifth to a sixth of SwiftShader's CPU per frame) or SwiftShader (Chromium's own); ``WLHY_BROWSER_GL`` picks.
GL_FLAGS = {"swiftshader": ("--use-angle=swiftshader", "--enable-unsafe-swiftshader"),
            "llvmpipe": ("--use-gl=angle", "--use-angle=gl-egl", "--ignore-gpu-blocklist")}


def new_browser(width: int = 1366, height: int = 768, gl: str | None = None):
    """Headless Chromium through chromedriver, logging every network request (to assert nothing is external)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = _chromium()
    if found is None:
        pytest.skip("no chromium/chromedriver: run scripts/bootstrap.sh --browser")
    binary, driver = found
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    gl = gl or os.environ.get("WLHY_BROWSER_GL", "llvmpipe")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                *GL_FLAGS[gl], "--lang=zh-CN"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    browser = webdriver.Chrome(options=opts, service=Service(driver))
    # --window-size counts the window, not the page: pin the page itself to the screen size under test.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return browser


@pytest.fixture
def browser():
    b = new_browser()
    yield b
    b.quit()


def requested_urls(browser) -> list[str]:
    """Every URL the page asked for since the last call (Chrome's performance log)."""
    urls = []
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def browser_login(browser, base: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(base + "/dashboard/login")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "login-button").click()
    WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.ID, "who")))


def screenshot(browser, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path
