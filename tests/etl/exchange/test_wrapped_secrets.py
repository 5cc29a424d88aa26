"""Province private keys and the token-signing secret are stored wrapped under the master key, never in clear."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, text

from core import secrets_wrap
from core.config import get_settings
from core.secrets_wrap import MasterKeyError
from etl.exchange import crypto, keys, tokens
from store.migrate import upgrade
from tests.conftest import make_database, rolled_back_session


@pytest.fixture(scope="module")
def engine(pg_admin_dsn):
    eng = create_engine(make_database(pg_admin_dsn))  # own database, as the app role
    yield eng
    eng.dispose()


@pytest.fixture
def own_master_key(tmp_path, monkeypatch):
    """A master key file of this test only (rotation adds versions to it)."""
    monkeypatch.setenv("WLHY_MASTER_KEY_FILE", str(tmp_path / "master-key.json"))
    monkeypatch.delenv("WLHY_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "master-key.json"
    get_settings.cache_clear()


@pytest.fixture
def session(engine, own_master_key):
    with rolled_back_session(engine) as s:
        yield s


def _stored_key(session, key_id):
    return session.execute(text("SELECT private_key_wrapped FROM province_key WHERE key_id = :k"),
                           {"k": key_id}).scalar_one()


def _stored_secret(session):
    return session.execute(text("SELECT value FROM system_meta WHERE key = 'exchange_token_secret'")).scalar_one()


def test_the_private_key_is_stored_wrapped_and_opens_to_the_key_pair(session):
    key = keys.ensure_current(db_session=session)
    stored = _stored_key(session, key.key_id)
    clear = keys.private_key_hex(key)
    assert secrets_wrap.is_wrapped(stored) and clear not in stored and clear.lower() not in stored.lower()
    columns = set(session.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'province_key'")).scalars())
    assert "private_key_hex" not in columns
    # The pair still works: what is sealed to the public key opens with the unwrapped private key.
    code, content = crypto.seal(b'{"a": 1}', key.public_key_hex)
    assert crypto.open_envelope(code, content, keys.decryption_keys(db_session=session)).payload == b'{"a": 1}'


def test_a_clear_or_moved_private_key_is_refused(session):
    key = keys.ensure_current(db_session=session)
    other = keys.rotate(db_session=session, new_master_key=False)
    key.private_key_wrapped = other.private_key_wrapped  # another row's wrapped key, copied over
    with pytest.raises(MasterKeyError):
        keys.private_key_hex(key)
    key.private_key_wrapped = crypto.generate_keypair()[0]  # a clear key written behind our back
    with pytest.raises(MasterKeyError, match="not wrapped"):
        keys.private_key_hex(key)


def test_the_token_secret_is_stored_wrapped_and_a_guessed_or_stolen_one_forges_nothing(session):
    secret = tokens.load_secret(session)
    stored = _stored_secret(session)
    assert set(stored) == {"wrapped"} and secrets_wrap.is_wrapped(stored["wrapped"])
    assert secret.hex() not in str(stored)
    assert tokens.load_secret(session) == secret  # the same secret every time
    good = tokens.make_token(secret, account_id=7, user_name="acct")
    assert tokens.read_token(secret, good).account_id == 7
    # What a reader of the database has (the stored value), and guesses, sign nothing the service accepts.
    for forged_with in (stored["wrapped"].encode(), bytes.fromhex(stored["wrapped"].split(":")[1]),
                        secrets.token_bytes(32), b"", secret[:16]):
        forged = tokens.make_token(forged_with, account_id=7, user_name="acct")
        assert tokens.read_token(secret, forged) is None


def test_a_clear_token_secret_is_refused(session):
    tokens.load_secret(session)
    session.execute(text("UPDATE system_meta SET value = jsonb_build_object('hex', CAST(:h AS text)) "
                         "WHERE key = 'exchange_token_secret'"), {"h": secrets.token_hex(32)})
    with pytest.raises(MasterKeyError):
        tokens.load_secret(session)


def test_rotation_rewraps_every_secret_under_a_new_master_key_and_keeps_decrypting(session, own_master_key):
    first = keys.ensure_current(db_session=session)
    first_clear = keys.private_key_hex(first)
    secret = tokens.load_secret(session)
    old_master = secrets_wrap.keyring().current

    second = keys.rotate(db_session=session)
    new_master = secrets_wrap.keyring().current
    assert new_master != old_master
    for key_id in (first.key_id, second.key_id):
        assert _stored_key(session, key_id).split(":")[1] == new_master
    assert _stored_secret(session)["wrapped"].split(":")[1] == new_master
    # Both keys of the overlap open envelopes; the token secret is the same secret.
    assert keys.decryption_keys(db_session=session) == [keys.private_key_hex(second), first_clear]
    assert tokens.load_secret(session) == secret
    # The old master key version is no longer needed: a key file holding only the new one opens everything.
    import json

    data = json.loads(own_master_key.read_text())
    assert len(data["keys"]) == 2
    secrets_wrap.drop_versions({new_master})
    assert len(json.loads(own_master_key.read_text())["keys"]) == 1
    secrets_wrap.keyring(fresh=True)
    assert keys.decryption_keys(db_session=session)[1] == first_clear and tokens.load_secret(session) == secret


def test_rotation_with_the_environment_key_rewraps_under_its_first_key(session, monkeypatch):
    k_old, k_new = secrets.token_hex(16), secrets.token_hex(16)
    monkeypatch.setenv("WLHY_MASTER_KEY", k_old)
    get_settings.cache_clear()
    first = keys.ensure_current(db_session=session)
    clear = keys.private_key_hex(first)
    monkeypatch.setenv("WLHY_MASTER_KEY", f"{k_new},{k_old}")
    get_settings.cache_clear()
    keys.rotate(db_session=session)
    kid_new = secrets_wrap.key_id_of(bytes.fromhex(k_new))
    assert _stored_key(session, first.key_id).split(":")[1] == kid_new
    monkeypatch.setenv("WLHY_MASTER_KEY", k_new)  # the old key can go now
    get_settings.cache_clear()
    assert keys.private_key_hex(first) == clear


def test_the_migration_wraps_clear_secrets_of_an_existing_database(pg_admin_dsn, own_master_key):
    url = make_database(pg_admin_dsn, migrate=False, role="owner")
    upgrade(url, "0004")
    private_hex, public_hex = crypto.generate_keypair()
    secret_hex = secrets.token_hex(32)
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO province_key (key_id, public_key_hex, private_key_hex, status) "
                              "VALUES ('old-1', :pub, :priv, 'current')"), {"pub": public_hex, "priv": private_hex})
            conn.execute(text("INSERT INTO system_meta (key, value) VALUES ('exchange_token_secret', "
                              "jsonb_build_object('hex', CAST(:h AS text)))"), {"h": secret_hex})
        upgrade(url)
        with rolled_back_session(eng) as s:
            stored = _stored_key(s, "old-1")
            assert secrets_wrap.is_wrapped(stored) and private_hex not in stored
            assert secret_hex not in str(_stored_secret(s))
            assert keys.decryption_keys(db_session=s) == [private_hex]
            assert tokens.load_secret(s).hex() == secret_hex
    finally:
        eng.dispose()
