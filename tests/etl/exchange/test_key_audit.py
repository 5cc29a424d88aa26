"""Key generation, rotation, re-wrapping and dropping old master key versions are audit rows; old versions are
dropped only when nothing is wrapped under them any more."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, select

from core import secrets_wrap
from core.config import get_settings
from etl.exchange import keys, tokens
from store.models import AuditLog
from tests.conftest import make_database, rolled_back_session


@pytest.fixture(scope="module")
def engine(pg_admin_dsn):
    eng = create_engine(make_database(pg_admin_dsn))
    yield eng
    eng.dispose()


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("WLHY_MASTER_KEY_FILE", str(tmp_path / "master-key.json"))
    monkeypatch.delenv("WLHY_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "master-key.json"
    get_settings.cache_clear()


@pytest.fixture
def session(engine, key_file):
    with rolled_back_session(engine) as s:
        yield s


def _audit(session, action):
    return session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def test_generate_and_rotate_are_audited(session):
    first = keys.generate(db_session=session, actor="cli:alice")
    tokens.load_secret(session)
    second = keys.rotate(db_session=session, actor="cli:alice")
    [gen] = _audit(session, "province_key_generate")
    assert (gen.username, gen.target) == ("cli:alice", f"province_key:{first.key_id}")
    [rot] = _audit(session, "province_key_rotate")
    assert rot.username == "cli:alice" and rot.target == f"province_key:{second.key_id}" and rot.outcome == "ok"
    assert rot.detail["previousKeyId"] == first.key_id and rot.detail["overlapDays"] == 30
    assert rot.detail["masterKeyId"] == secrets_wrap.keyring().current and rot.detail["rewrapped"] == 2
    assert first.key_id not in json.dumps(rot.detail["masterKeyId"])  # names versions, never key material


def test_old_master_versions_are_dropped_only_when_nothing_needs_them(session, key_file):
    key = keys.ensure_current(db_session=session)
    clear = keys.private_key_hex(key)
    secret = tokens.load_secret(session)
    old = secrets_wrap.keyring().current
    new = secrets_wrap.add_version().current  # a new version, nothing re-wrapped yet
    assert keys.master_key_usage(db_session=session) == {old: 2}
    with pytest.raises(keys.MasterKeyInUse, match=old):
        keys.drop_master_versions(db_session=session, actor="cli:bob")
    assert len(json.loads(key_file.read_text())["keys"]) == 2            # nothing removed
    [refused] = _audit(session, "master_key_drop_versions")
    assert refused.outcome == "refused" and refused.detail == {
        "stillWrapping": {old: 2}, "reason": "secrets still wrapped under an old version"}

    assert keys.rewrap(db_session=session, actor="cli:bob") == 2
    assert keys.master_key_usage(db_session=session) == {new: 2}
    assert keys.drop_master_versions(db_session=session, actor="cli:bob") == [old]
    data = json.loads(key_file.read_text())
    assert data["current"] == new and len(data["keys"]) == 1
    secrets_wrap.keyring(fresh=True)
    assert keys.private_key_hex(key) == clear and tokens.load_secret(session) == secret
    done = _audit(session, "master_key_drop_versions")[-1]
    assert done.outcome == "ok" and done.detail == {"dropped": [old], "kept": new}
    assert _audit(session, "master_key_rewrap")[-1].detail == {"rewrapped": 2}
    assert keys.drop_master_versions(db_session=session) == []          # nothing left to drop


def test_a_clear_secret_blocks_the_drop(session):
    key = keys.ensure_current(db_session=session)
    secrets_wrap.add_version()
    keys.rewrap(db_session=session)
    key.private_key_wrapped = "00" * 32  # clear, written behind our back
    session.flush()
    with pytest.raises(keys.MasterKeyInUse, match="clear"):
        keys.drop_master_versions(db_session=session)
