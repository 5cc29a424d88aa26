"""The indicator tests get their own database: a ranking reads every operator, so rows other tests commit elsewhere
must not enter it."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from tests.conftest import make_database


@pytest.fixture(scope="session")
def db_url(pg_admin_dsn):
    return make_database(pg_admin_dsn)


@pytest.fixture(scope="session")
def engine(db_url):
    eng = create_engine(db_url)
    yield eng
    eng.dispose()
