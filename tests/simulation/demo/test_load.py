"""Loading a generated province: through the intake core and through /exchange; counts, idempotency, users."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from simulation.demo.load import ExchangeTarget, load
from simulation.demo.users import ensure_demo_users
from simulation.generator import generate
from simulation.generator.config import GeneratorConfig
from store.models import AppUser, Message, Position, Vehicle, Waybill, WaybillVehicle
from tests.conftest import make_database


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    out = tmp_path_factory.mktemp("province")
    generate(GeneratorConfig.small(days=2, waybills=60, vehicles=30, drivers=33), out, progress=False)
    return out


def _count(s, model, *where):
    return s.scalar(select(func.count()).select_from(model).where(*where))


def _expected(province, name):
    return sum(1 for line in (province / name).open(encoding="utf-8") if line.strip())


def test_core_load_counts_and_idempotency(pg_admin_dsn, province):
    eng = create_engine(make_database(pg_admin_dsn))
    with Session(eng) as s:
        # the whole BeiDou history (--bulk-beidou); several chunks, several commits
        summary = load(s, province, progress=False, beidou_chunk=1000, beidou="all")
        assert not summary.skipped
        rejected = sum(n for codes in summary.results.values() for c, n in codes.items() if c != 1001)
        truth = [json.loads(line) for line in (province / "ground_truth.jsonl").open(encoding="utf-8")]
        assert rejected == sum(1 for t in truth if t["code"] == "INTAKE_REJECTED")
        assert _count(s, Message) == sum(_expected(province, f) for f in
                                          ("vehicles.jsonl", "drivers.jsonl", "waybills.jsonl", "fund_flows.jsonl",
                                           "positions_app.jsonl"))
        manifest = json.loads((province / "manifest.json").read_text())
        track = pq.read_table(province / "beidou.parquet", columns=["vehicle_number", "plate_color", "t"]).to_pandas()
        distinct = len(track.drop_duplicates())  # the generator repeats a few fixes; a re-sent fix is stored once
        assert _count(s, Position, Position.source == 2) == summary.fixes["beidou"] == distinct > 1000
        assert _count(s, Waybill) == manifest["counts"]["waybillDocuments"]
        waybills, vehicles = _count(s, Waybill), _count(s, Vehicle)
        # same data set again: skipped, nothing added
        assert load(s, province, progress=False).skipped
        # forced: every message is a replay (3001), still nothing added
        again = load(s, province, progress=False, force=True)
        assert set(again.results["WLHY_YD1001"]) == {3001}
        assert (_count(s, Waybill), _count(s, Vehicle)) == (waybills, vehicles)
    eng.dispose()


# Fixes of a stored waybill item's verification window ([despatch − 2 h, receipt + 2 h], trajectories.fixes.window).
_IN_WINDOWS_SQL = text("""
    SELECT count(*) FROM position p WHERE p.source = 2 AND EXISTS (
        SELECT 1 FROM waybill_vehicle i WHERE i.vehicle_number = p.vehicle_number AND i.plate_color = p.plate_color
          AND p.t BETWEEN least(i.despatch_at, i.receipt_at) - interval '2 hours'
                      AND greatest(i.despatch_at, i.receipt_at) + interval '2 hours')""")


def _verdicts(s: Session) -> dict:
    """Every waybill item verified from the stored fixes only (no national platform): verdict and fired codes."""
    from trajectories.verification import verify_items

    items = s.scalars(select(WaybillVehicle.id).join(Waybill, Waybill.id == WaybillVehicle.waybill_id)
                      .where(Waybill.is_sandbox.is_(False))).all()
    out = {}
    for r in verify_items(s, list(items)):
        w = s.get(Waybill, r.waybill_id)  # same load order in both databases: the same operator ids
        out[(w.operator_id, w.shipping_note_number, r.seq)] = (r.verdict, sorted(r.fired), r.n_fixes)
    return out


def test_default_load_copies_beidou_of_the_waybills_windows_only_and_verdicts_are_unchanged(pg_admin_dsn, province):
    """`make demo` copies only the BeiDou fixes verification reads: fewer rows, the same verdict for every waybill."""
    full_eng, part_eng = create_engine(make_database(pg_admin_dsn)), create_engine(make_database(pg_admin_dsn))
    with Session(full_eng) as full, Session(part_eng) as part:
        everything = load(full, province, progress=False, beidou="all").fixes["beidou"]
        windows = load(part, province, progress=False, beidou_chunk=1000).fixes["beidou"]
        assert _count(part, Position, Position.source == 2) == windows
        # exactly the whole load's fixes that fall in some item's window
        assert windows == full.scalar(_IN_WINDOWS_SQL) == part.scalar(_IN_WINDOWS_SQL)
        assert 0 < windows < everything
        assert load(part, province, progress=False, force=True, beidou="none").fixes == {}
        assert _verdicts(part) == _verdicts(full)
    full_eng.dispose()
    part_eng.dispose()


def test_demo_users_one_per_role_and_stable_passwords(session, tmp_path):
    creds_file = tmp_path / "creds.json"
    first = ensure_demo_users(session, province_code="340000", credentials_file=creds_file, admin_password="Adm1n!")
    roles = {c["role"] for c in first}
    assert {"admin", "province", "city", "county", "analyst"} <= roles
    assert next(c for c in first if c["username"] == "admin")["password"] == "Adm1n!"
    again = ensure_demo_users(session, province_code="340000", credentials_file=creds_file, admin_password="Adm1n!")
    assert [c["password"] for c in again] == [c["password"] for c in first]
    assert _count(session, AppUser) == len(first)
    assert oct(creds_file.stat().st_mode)[-3:] == "600"


def test_feed_through_the_exchange(pg_admin_dsn, province, tmp_path):
    """The demo's real path: the reference client seals every document and posts it to a live server."""
    import threading
    import time

    import uvicorn

    from api.main import create_app
    from tests.conftest import _free_port

    url = make_database(pg_admin_dsn)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(url), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        eng = create_engine(url)
        with Session(eng) as s:
            summary = load(s, province, progress=False, exchange=ExchangeTarget(f"http://127.0.0.1:{port}", 3))
            weak = s.scalar(select(func.count()).select_from(Message).where(Message.weak_envelope))
            ciphered = s.scalar(select(func.count()).select_from(Message).where(Message.encrypted_code.is_not(None)))
            total = _count(s, Message)
        assert summary.results["WLHY_YD1001"].get(1001, 0) > 0
        assert ciphered == total  # everything arrived enveloped
        truth = [json.loads(line) for line in (province / "ground_truth.jsonl").open(encoding="utf-8")]
        assert weak >= sum(1 for t in truth if t["code"] == "SEC_WEAK_ENVELOPE") > 0
        eng.dispose()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
