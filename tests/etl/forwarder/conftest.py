"""A migrated database of its own (workers need committed rows), a live Ministry simulator, intake helpers."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from core.config import Settings
from etl.exchange import crypto
from etl.forwarder import MinistryClient
from etl.intake import pipeline
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from simulation.servers.runner import MinistryAccess, serve
from tests.conftest import empty_database, make_database

MINISTRY_USER, MINISTRY_PASSWORD = "anhui-340000", "ministry-pass"
DOC_NAMES = {
    "WLHY_YD1001": "电子运单上传",
    "WLHY_ZJ1001": "资金流水单上传",
    "WLHY_CL1001": "车辆基本信息上传",
    "WLHY_JSY1001": "驾驶员基本信息上传",
    "WLHY_WZ1001": "位置信息上传",
}


@pytest.fixture(scope="module")
def fw_engine(pg_admin_dsn):
    eng = create_engine(make_database(pg_admin_dsn), pool_size=8)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(fw_engine):
    """A sessionmaker on an emptied database."""
    empty_database(fw_engine)
    return sessionmaker(fw_engine, expire_on_commit=False)


@pytest.fixture(scope="module")
def ministry_keys():
    return crypto.generate_keypair()


@pytest.fixture(scope="module")
def _sim(ministry_keys):
    access = MinistryAccess(ministry_keys[0], accounts={MINISTRY_USER: MINISTRY_PASSWORD})
    with serve("ministry", ministry=access, port=0) as s:
        yield s


@pytest.fixture
def sim(_sim):
    """The running simulator, emptied and without faults."""
    _sim.state.reset()
    return _sim


@pytest.fixture
def make_settings(sim, ministry_keys):
    def make(**kw) -> Settings:
        base = {"ministry_url": sim.url, "ministry_user_name": MINISTRY_USER, "ministry_password": MINISTRY_PASSWORD,
                "ministry_public_key_hex": ministry_keys[1], "ministry_timeout_s": 5.0,
                "ministry_base_backoff_s": 10.0, "ministry_batch_size": 5}
        return Settings(**{**base, **kw})

    return make


@pytest.fixture
def make_client(make_settings):
    clients = []

    def make(**kw) -> MinistryClient:
        clients.append(MinistryClient(make_settings(**kw)))
        return clients[-1]

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def operator(factory):
    with factory() as s:
        op = upsert_operator(s, samples.operator())
        s.commit()
        return op


@pytest.fixture
def intake(factory, operator):
    """``intake(ipc_type, payload) -> IntakeResult``: a message accepted through the real pipeline."""

    def send(ipc_type: str, payload: dict):
        header = {
            "messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc_type],
            "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "wlhy-test",
            "messageSendingDateTime": "20240316093000", "ipcType": ipc_type,
        }
        with factory() as s:
            res = pipeline.receive(s, operator=s.merge(operator), header=header, payload=json.dumps(payload))
        assert res.code == 1001, res.to_wire()
        return res

    return send
