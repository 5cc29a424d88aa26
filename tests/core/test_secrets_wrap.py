"""Secrets wrapped under the master key: SM4-GCM, bound to their place, versions for rotation, 0600 key file."""

from __future__ import annotations

import stat

import pytest

from core import secrets_wrap
from core.config import Settings
from core.secrets_wrap import MasterKeyError


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path / "var", master_key="", master_key_file=None)


def test_key_file_is_made_on_first_use_with_mode_0600(settings):
    ring = secrets_wrap.load_keyring(settings)
    path = secrets_wrap.master_key_file(settings)
    assert path == settings.var_dir / "master-key.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets_wrap.load_keyring(settings).keys == ring.keys  # the same key next time


def test_wrap_is_sm4_gcm_bound_to_its_context_and_tamper_evident(settings):
    ring = secrets_wrap.load_keyring(settings)
    secret = bytes(range(32))
    wrapped = ring.wrap(secret, "province_key:k1")
    assert wrapped.startswith(f"{secrets_wrap.PREFIX}:{ring.current}:") and secret.hex() not in wrapped
    assert ring.wrap(secret, "province_key:k1") != wrapped  # random nonce
    assert ring.unwrap(wrapped, "province_key:k1") == secret
    with pytest.raises(MasterKeyError):
        ring.unwrap(wrapped, "province_key:k2")  # copied to another row
    body = wrapped.rsplit(":", 1)
    flipped = body[0] + ":" + ("A" if body[1][5] != "A" else "B").join((body[1][:5], body[1][6:]))
    with pytest.raises(MasterKeyError):
        ring.unwrap(flipped, "province_key:k1")
    with pytest.raises(MasterKeyError, match="not wrapped"):
        ring.unwrap(secret.hex(), "province_key:k1")  # a clear value is refused


def test_a_new_version_wraps_and_the_old_one_still_unwraps(settings):
    old = secrets_wrap.load_keyring(settings)
    wrapped = old.wrap(b"s", "c")
    new = secrets_wrap.add_version(settings)
    assert new.current != old.current and old.current in new.keys
    assert new.unwrap(wrapped, "c") == b"s" and new.needs_rewrap(wrapped)
    rewrapped = new.wrap(new.unwrap(wrapped, "c"), "c")
    assert not new.needs_rewrap(rewrapped)
    assert stat.S_IMODE(secrets_wrap.master_key_file(settings).stat().st_mode) == 0o600
    # Another key file (another installation) opens nothing of ours.
    other = secrets_wrap.load_keyring(Settings(var_dir=settings.var_dir / "other", master_key="", master_key_file=None))
    with pytest.raises(MasterKeyError, match="not available"):
        other.unwrap(rewrapped, "c")


def test_the_environment_variable_gives_the_keys_current_first(settings):
    k1, k2 = "11" * 16, "22" * 16
    old = secrets_wrap.load_keyring(settings.model_copy(update={"master_key": k1}))
    wrapped = old.wrap(b"s", "c")
    ring = secrets_wrap.load_keyring(settings.model_copy(update={"master_key": f"{k2},{k1}"}))
    assert ring.source == "env" and ring.current == secrets_wrap.key_id_of(bytes.fromhex(k2))
    assert ring.unwrap(wrapped, "c") == b"s" and ring.needs_rewrap(wrapped)
    assert not secrets_wrap.master_key_file(settings).exists()  # nothing written
    for bad in ("zz", "11" * 8, " , "):
        with pytest.raises(MasterKeyError):
            secrets_wrap.load_keyring(settings.model_copy(update={"master_key": bad}))
