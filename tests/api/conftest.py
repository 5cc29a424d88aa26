"""A real uvicorn server on a free port, serving the app against the run's test database."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from api.main import create_app
from auth import service as auth_service
from tests.conftest import _free_port, make_database


# The live server commits what it receives, so API tests get their own database: rows they leave behind must not
# be seen by the rolled-back tests elsewhere.
@pytest.fixture(scope="session")
def db_url(pg_admin_dsn):
    return make_database(pg_admin_dsn)


@pytest.fixture(scope="session")
def engine(db_url):
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


LIVE_APP = None  # the app behind live_url, for tests that tune its in-process state (rate limiter)


@pytest.fixture(scope="session")
def live_url(db_url):
    global LIVE_APP
    port = _free_port()
    LIVE_APP = create_app(db_url)
    server = uvicorn.Server(uvicorn.Config(LIVE_APP, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def http(live_url):
    with httpx.Client(base_url=live_url, timeout=10) as client:
        yield client


@pytest.fixture
def make_user(engine):
    """Create committed users (the live server sees them); returns (username, password)."""

    def make(role: str = "analyst", **kw) -> tuple[str, str]:
        username = f"{role}-{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        with Session(engine) as s:
            auth_service.create(db_session=s, username=username, password=password, role=role, **kw)
            s.commit()
        return username, password

    return make


def login_as(http, make_user, role: str, **kw) -> tuple[str, dict[str, str]]:
    """A new committed user of ``role``, logged in over HTTP: (username, Authorization headers)."""
    username, password = make_user(role, **kw)
    token = http.post("/api/v1/auth/login", json={"username": username, "password": password}).json()["access_token"]
    return username, {"Authorization": f"Bearer {token}"}
