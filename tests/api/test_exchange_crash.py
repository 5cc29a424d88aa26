"""The server is killed (SIGKILL) mid-stream: every message that was answered 1001 is in the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from etl.exchange import keys
from etl.exchange.client import ExchangeClient, ExchangeClientError
from etl.schemas import samples
from store.models import Message, Waybill
from tests.api.test_exchange import _new_account
from tests.conftest import _free_port


@pytest.fixture
def server(db_url):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=os.environ | {"WLHY_DATABASE_URL": db_url},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.2)
    yield base, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_answered_1001_means_stored_even_if_the_server_dies(server, engine):
    base, proc = server
    user, password, _ = _new_account(engine)
    with Session(engine) as s:
        public = keys.ensure_current(db_session=s).public_key_hex
        s.commit()
    answered: dict[str, int] = {}
    notes: dict[str, str] = {}
    stop = threading.Event()

    def sender() -> None:
        client = ExchangeClient(base, user, password, public, timeout=5)
        client.login()
        for _ in range(2000):  # bounded
            if stop.is_set():
                return
            wb = samples.waybill()
            wb["shippingNoteNumber"] = "YD" + uuid.uuid4().hex[:12]
            ref = uuid.uuid4().hex
            try:
                reply = client.send("WLHY_YD1001", wb, reference=ref)
            except (ExchangeClientError, httpx.HTTPError, ValueError):
                return  # the server is gone
            answered[ref] = reply["code"]
            notes[ref] = wb["shippingNoteNumber"]

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(1 for c in answered.values() if c == 1001) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no graceful shutdown
    stop.set()
    for t in threads:
        t.join(timeout=30)
    accepted = [ref for ref, code in answered.items() if code == 1001]
    assert len(accepted) >= 40
    with Session(engine) as s:
        stored = dict(s.execute(select(Message.message_reference_number, Message.result_code)
                                .where(Message.message_reference_number.in_(accepted))).all())
        waybills = set(s.scalars(select(Waybill.shipping_note_number)
                                 .where(Waybill.shipping_note_number.in_([notes[r] for r in accepted]))))
    assert all(stored.get(ref) == 1001 for ref in accepted)
    assert waybills == {notes[r] for r in accepted}
