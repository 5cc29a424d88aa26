"""The demo is a replay of past days: after a load, a document is received when the generator planned to send it,
so INTAKE_LATE fires on the generator's late variants and on nothing else (recall and precision 1.0), whether the
document rules run after the load (``wlhy demo up``) or already ran with the feed's time (a worker during
``wlhy demo load``, a data set loaded before the replay step existed)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from etl.adapters.national import NationalPlatformClient
from etl.adapters.yunzheng import YunzhengClient
from simulation.demo.load import ExchangeTarget, load
from simulation.demo.replay import REPLAY_DELAY, REPLAY_META_KEY
from simulation.generator import generate
from simulation.generator.config import GeneratorConfig
from store.jobs import Worker
from supervision.rules.jobs import rules_handlers
from supervision.rules.registry import Registries
from tests.conftest import _free_port, live_server, make_database

#: Big enough for both INTAKE_LATE variants (a late waybill and a late fund flow); SMALL_PROVINCE has one waybill.
BOTH_VARIANTS = GeneratorConfig.small(days=1, waybills=100, vehicles=60, drivers=66)

_LATE = text("""
    SELECT 'waybill' AS kind, o.usci, w.shipping_note_number || '/' || w.serial_number AS key
    FROM anomaly a JOIN waybill w ON w.id = a.document_id JOIN operator o ON o.id = w.operator_id
    WHERE a.code = 'INTAKE_LATE' AND a.document_kind = 'waybill' AND a.status = 'open'
    UNION ALL
    SELECT 'fund_flow', o.usci, f.document_number
    FROM anomaly a JOIN fund_flow f ON f.id = a.document_id JOIN operator o ON o.id = f.operator_id
    WHERE a.code = 'INTAKE_LATE' AND a.document_kind = 'fund_flow' AND a.status = 'open'
""")


@pytest.fixture(scope="module")
def both_variants_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("province-late")
    generate(BOTH_VARIANTS, out, progress=False)
    return out


def _truth(data_dir: Path) -> set[tuple[str, str, str]]:
    """(kind, operator USCI, key) of every document the generator sent late on purpose."""
    out = set()
    for line in (data_dir / "ground_truth.jsonl").open(encoding="utf-8"):
        g = json.loads(line)
        if g["code"] == "INTAKE_LATE":
            k = g["key"]
            key = k["documentNumber"] if g["kind"] == "fund_flow" else f"{k['shippingNoteNumber']}/{k['serialNumber']}"
            out.add((g["kind"], g["operator"], key))
    return out


def _run_document_rules(url: str) -> int:
    """Drain the queued document-rules jobs as ``wlhy worker`` would (no registry answers: QUAL_* stay pending,
    the rules checked here need none)."""
    eng = create_engine(url)
    dead = f"http://127.0.0.1:{_free_port()}"
    registries = Registries(yunzheng=YunzhengClient(dead, timeout_s=1, retries=0),
                            national=NationalPlatformClient(dead, timeout_s=1, retries=0))
    try:
        return Worker(sessionmaker(eng, expire_on_commit=False), handlers=rules_handlers(registries)).run(
            stop_when_idle=True)
    finally:
        registries.close()
        eng.dispose()


def _flagged(url: str) -> set[tuple[str, str, str]]:
    eng = create_engine(url)
    with eng.connect() as c:
        out = {(r.kind, r.usci, r.key) for r in c.execute(_LATE)}
    eng.dispose()
    return out


def _score(flagged: set, truth: set) -> tuple[float, float]:
    hits = len(flagged & truth)
    return (hits / len(flagged) if flagged else 0.0), (hits / len(truth) if truth else 0.0)


def test_exchange_feed_then_rules_flags_only_the_late_variants(pg_admin_dsn, province_dir):
    """``wlhy demo up``'s order: the feed through /exchange, the replay, then the worker's document rules."""
    url = make_database(pg_admin_dsn)
    eng = create_engine(url)
    with live_server(create_app(url)) as base, Session(eng) as s:
        summary = load(s, province_dir, progress=False, exchange=ExchangeTarget(base, 3))
    with eng.connect() as c:
        waybills, fund_flows = (c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                                for t in ("waybill", "fund_flow"))
        offsets = {r[0] for r in c.execute(text(
            "SELECT received_at - send_to_pro_at FROM waybill UNION SELECT received_at - send_to_pro_at FROM fund_flow"))}
        # the archive keeps the real arrival: today, weeks after the replayed days
        arrival = c.execute(text("SELECT min(received_at) FROM message")).scalar_one()
        replayed = c.execute(text("SELECT max(received_at) FROM waybill")).scalar_one()
    eng.dispose()
    assert summary.replay is not None and not summary.replay.skipped
    assert (summary.replay.waybills, summary.replay.fund_flows) == (waybills, fund_flows) and waybills > 0
    assert summary.replay.rechecked == 0  # no rule had run yet: intake's jobs see the replayed times
    assert offsets == {REPLAY_DELAY}
    assert arrival > dt.datetime.now(dt.UTC) - dt.timedelta(hours=1) > replayed
    assert _run_document_rules(url) > 0
    truth, flagged = _truth(province_dir), _flagged(url)
    precision, recall = _score(flagged, truth)
    print(f"small province via /exchange: {len(truth)} late by ground truth, {len(flagged)} INTAKE_LATE, "
          f"precision {precision:.2f}, recall {recall:.2f}")
    assert truth and flagged == truth


def test_rules_that_ran_on_the_feed_time_are_rechecked(pg_admin_dsn, both_variants_dir):
    """A data set loaded and checked before the replay step existed: every document read as late; the next load
    (skipped, same data set) replays the times and queues the re-check, which resolves the stale INTAKE_LATE."""
    url = make_database(pg_admin_dsn)
    eng = create_engine(url)
    with Session(eng) as s:
        load(s, both_variants_dir, progress=False)
        # undo the replay: the state an older `wlhy demo load` left (received = the feed's time)
        s.execute(text("UPDATE waybill SET received_at = now()"))
        s.execute(text("UPDATE fund_flow SET received_at = now()"))
        s.execute(text("DELETE FROM system_meta WHERE key = :k"), {"k": REPLAY_META_KEY})
        s.commit()
    _run_document_rules(url)
    truth = _truth(both_variants_dir)
    stale = _flagged(url)
    assert len(stale) > len(truth)  # the feed's time makes every demo document with a receipt or payment late
    with Session(eng) as s:
        again = load(s, both_variants_dir, progress=False)
    assert again.skipped and again.replay is not None and again.replay.rechecked > 0
    _run_document_rules(url)
    flagged = _flagged(url)
    precision, recall = _score(flagged, truth)
    print(f"re-check after replay: {len(stale)} INTAKE_LATE before, {len(flagged)} after, {len(truth)} late by "
          f"ground truth ({sorted(k for k, _, _ in truth)}), precision {precision:.2f}, recall {recall:.2f}")
    assert {k for k, _, _ in truth} == {"waybill", "fund_flow"}
    assert flagged == truth
    # the replayed time keeps sendToPro <= received: INTAKE_TIME_ORDER fires only where the generator broke the order
    order_truth = {(g["operator"], f"{g['key']['shippingNoteNumber']}/{g['key']['serialNumber']}")
                   for g in map(json.loads, (both_variants_dir / "ground_truth.jsonl").open(encoding="utf-8"))
                   if g["code"] == "INTAKE_TIME_ORDER"}
    with eng.connect() as c:
        order = {(r.usci, r.key) for r in c.execute(text(
            "SELECT o.usci, w.shipping_note_number || '/' || w.serial_number AS key FROM anomaly a "
            "JOIN waybill w ON w.id = a.document_id JOIN operator o ON o.id = w.operator_id "
            "WHERE a.code = 'INTAKE_TIME_ORDER' AND a.status = 'open'"))}
    assert order_truth and order == order_truth
    with Session(eng) as s:  # once per data set: a further load replays nothing
        assert load(s, both_variants_dir, progress=False).replay.skipped
    eng.dispose()
