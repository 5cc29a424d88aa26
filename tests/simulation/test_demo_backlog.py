"""A freshly loaded demo province is verified as a back-fill (Dask) before the queue worker takes over."""

from __future__ import annotations

import io
import threading

from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from simulation.demo.load import load
from simulation.demo.up import verify_backlog
from simulation.generator import generate
from simulation.generator.config import GeneratorConfig
from tests.conftest import make_database

_COUNTS = text("SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM verification v "
               "WHERE v.waybill_id = w.id AND v.current)) FROM waybill w WHERE NOT w.is_sandbox")


def test_fresh_province_gets_every_verdict_from_the_back_fill_and_a_restart_leaves_it_to_the_worker(
        pg_admin_dsn, tmp_path):
    out = tmp_path / "province"
    generate(GeneratorConfig.small(days=2, waybills=40, vehicles=20, drivers=22), out, progress=False)
    url = make_database(pg_admin_dsn)
    engine = create_engine(url)
    with Session(engine) as s:
        load(s, out, progress=False)
        s.commit()
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as s:
        total, done = s.execute(_COUNTS).one()
    assert total >= 30 and done == 0

    quiet = Console(file=io.StringIO())
    # below the threshold (a restart, a tiny province): nothing verified here, the worker's queue does it
    assert verify_backlog(url, factory, quiet, min_waybills=total + 1, processes=False) == total
    with factory() as s:
        assert s.execute(_COUNTS).one() == (total, 0)

    # as the demo runs it: from its background thread, on a local cluster of worker processes
    said, waiting = io.StringIO(), []
    worker = threading.Thread(target=lambda: waiting.append(
        verify_backlog(url, factory, Console(file=said, width=200), min_waybills=1)))
    worker.start()
    worker.join(timeout=300)
    assert waiting == [total], said.getvalue()
    with factory() as s:
        assert s.execute(_COUNTS).one() == (total, total)
    assert f"back-fill verification: {total:,} waybills in" in said.getvalue() and "waybills/s" in said.getvalue()
    engine.dispose()
