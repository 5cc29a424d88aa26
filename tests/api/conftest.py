"""A real uvicorn server on a free port, serving the app against the run's test database."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine

from api.main import create_app
from tests.conftest import live_server, make_database, user_maker


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
    LIVE_APP = create_app(db_url)
    with live_server(LIVE_APP, start_timeout_s=20) as url:
        yield url


@pytest.fixture
def http(live_url):
    with httpx.Client(base_url=live_url, timeout=10) as client:
        yield client


@pytest.fixture
def make_user(engine):
    """Create committed users (the live server sees them); returns (username, password)."""
    return user_maker(engine)


def login_as(http, make_user, role: str, **kw) -> tuple[str, dict[str, str]]:
    """A new committed user of ``role``, logged in over HTTP: (username, Authorization headers)."""
    username, password = make_user(role, **kw)
    token = http.post("/api/v1/auth/login", json={"username": username, "password": password}).json()["access_token"]
    return username, {"Authorization": f"Bearer {token}"}
