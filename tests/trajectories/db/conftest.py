"""A small generated province loaded once into its own committed database; rolled-back sessions on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from simulation.demo.load import load
from store.models import Waybill
from tests.conftest import SMALL_PROVINCE as PROVINCE  # noqa: F401 - tests import it from here
from tests.conftest import make_database, rolled_back_session


@pytest.fixture(scope="session")
def province_url(pg_admin_dsn, province_dir) -> str:
    """A migrated database holding the loaded province (committed; tests must not commit into it)."""
    url = make_database(pg_admin_dsn)
    eng = create_engine(url)
    with Session(eng) as s:
        load(s, province_dir, progress=False)
    eng.dispose()
    return url


@pytest.fixture(scope="session")
def province_engine(province_url):
    eng = create_engine(province_url)
    yield eng
    eng.dispose()


@pytest.fixture
def psession(province_engine) -> Iterator[Session]:
    """A session on the province database, rolled back after the test."""
    with rolled_back_session(province_engine) as sess:
        yield sess


def labelled_waybill_id(session: Session, truth: list[dict], code: str) -> int:
    """The first waybill the generator labelled with anomaly ``code``."""
    note = next(g["key"]["shippingNoteNumber"] for g in truth if g["code"] == code)
    return session.scalar(select(Waybill.id).where(Waybill.shipping_note_number == note))


def clean_waybill_id(session: Session, truth: list[dict]) -> int:
    """The first waybill the generator labelled with nothing."""
    labelled = {g["key"]["shippingNoteNumber"] for g in truth if "shippingNoteNumber" in g["key"]}
    return session.scalar(select(Waybill.id).where(Waybill.shipping_note_number.not_in(labelled))
                          .order_by(Waybill.id))
