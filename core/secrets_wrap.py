"""Secrets wrapped under a master key kept outside the database (SM4-GCM), with versions for rotation.

Province SM2 private keys and the exchange token-signing secret are stored only in wrapped form::

    wlhy-sm4gcm:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>

* ``wlhy-sm4gcm`` names the format and the cipher (SM4-GCM, GB/T 32907 in GCM mode as OpenSSL provides it through
  ``cryptography``; 12-byte random nonce, 16-byte tag);
* ``<key id>`` is the master key's fingerprint (first 12 hex digits of SM3 of the key), so a value says which master
  key opens it and a rotation can keep old versions readable until everything is re-wrapped;
* the *context* (e.g. ``province_key:20261201-ab12cd34``) is authenticated as associated data: a wrapped value
  copied into another row or setting does not open there.

Where the master key comes from (:func:`load_keyring`):

* ``WLHY_MASTER_KEY``: hex of 16-byte keys, comma-separated, the first one current (older ones after it stay
  readable during a rotation); nothing is written to disk;
* otherwise the key file ``WLHY_MASTER_KEY_FILE`` (default ``var/master-key.json``), mode 0600, created on first
  use through :mod:`core.keyfiles`; :func:`add_version` appends a new current version to it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from core import keyfiles
from core.errors import WlhyError

__all__ = ["PREFIX", "MasterKeyError", "MasterKeyring", "add_version", "is_wrapped", "key_id_of", "keyring",
           "load_keyring", "master_key_file", "unwrap", "wrap"]

PREFIX = "wlhy-sm4gcm"
KEY_BYTES = 16  # SM4
_NONCE_BYTES = 12
_TAG_BYTES = 16


class MasterKeyError(WlhyError):
    """The master key is missing, malformed, or does not open a stored value (wrong key, tampered value)."""


def key_id_of(key: bytes) -> str:
    """The master key's fingerprint: what a wrapped value names (never the key itself)."""
    return hashlib.new("sm3", b"wlhy-master-key:" + key).hexdigest()[:12]


def is_wrapped(value: str | None) -> bool:
    """Whether ``value`` looks like a wrapped secret (format prefix), as opposed to a clear one."""
    return isinstance(value, str) and value.startswith(PREFIX + ":")


@dataclass
class MasterKeyring:
    """Master key versions by id; ``current`` wraps, every version unwraps."""

    keys: dict[str, bytes]
    current: str
    source: str = field(default="file")  # "env" or "file": whether add_version can make a new one

    def wrap(self, plaintext: bytes, context: str) -> str:
        """``plaintext`` wrapped under the current master key, bound to ``context``."""
        nonce = os.urandom(_NONCE_BYTES)
        enc = Cipher(algorithms.SM4(self.keys[self.current]), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(context.encode("utf-8"))
        body = nonce + enc.update(plaintext) + enc.finalize() + enc.tag
        return f"{PREFIX}:{self.current}:{base64.urlsafe_b64encode(body).decode().rstrip('=')}"

    def unwrap(self, value: str, context: str) -> bytes:
        """The plaintext of a wrapped value; :class:`MasterKeyError` if it is clear, unknown, or does not open."""
        if not is_wrapped(value):
            raise MasterKeyError("stored secret is not wrapped (clear values are refused; run `wlhy db upgrade`)")
        try:
            _prefix, kid, b64 = value.split(":", 2)
            body = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (ValueError, TypeError) as e:
            raise MasterKeyError("malformed wrapped secret") from e
        key = self.keys.get(kid)
        if key is None:
            raise MasterKeyError(f"wrapped under master key {kid}, which is not available "
                                 "(WLHY_MASTER_KEY / the master key file)")
        if len(body) < _NONCE_BYTES + _TAG_BYTES:
            raise MasterKeyError("malformed wrapped secret")
        nonce, ct, tag = body[:_NONCE_BYTES], body[_NONCE_BYTES:-_TAG_BYTES], body[-_TAG_BYTES:]
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(context.encode("utf-8"))
        try:
            return dec.update(ct) + dec.finalize()
        except InvalidTag as e:
            raise MasterKeyError("wrapped secret does not open (wrong master key or altered value)") from e

    def needs_rewrap(self, value: str) -> bool:
        """Whether ``value`` is clear or wrapped under a version other than the current one."""
        return not is_wrapped(value) or value.split(":", 2)[1] != self.current


def master_key_file(settings=None) -> Path:
    """Where the master key file is (``WLHY_MASTER_KEY_FILE``, default ``var/master-key.json``)."""
    from core.config import get_settings

    s = settings or get_settings()
    return Path(s.master_key_file) if s.master_key_file else Path(s.var_dir) / "master-key.json"


def _parse_hex_keys(text: str) -> list[bytes]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            key = bytes.fromhex(part)
        except ValueError as e:
            raise MasterKeyError("WLHY_MASTER_KEY must be hex (comma-separated versions, current first)") from e
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"a master key is {KEY_BYTES} bytes ({2 * KEY_BYTES} hex digits)")
        out.append(key)
    if not out:
        raise MasterKeyError("WLHY_MASTER_KEY is empty")
    return out


def _new_file_content() -> dict:
    key = secrets.token_bytes(KEY_BYTES)
    return {"format": 1, "cipher": "SM4-GCM", "current": key_id_of(key), "keys": [key.hex()]}


def _keyring_from_file(data: dict) -> MasterKeyring:
    keys = _parse_hex_keys(",".join(data.get("keys", [])))
    ring = {key_id_of(k): k for k in keys}
    current = data.get("current") or key_id_of(keys[-1])
    if current not in ring:
        raise MasterKeyError("master key file names a current key it does not hold")
    return MasterKeyring(ring, current, "file")


def load_keyring(settings=None) -> MasterKeyring:
    """The master keys: ``WLHY_MASTER_KEY`` when set, else the key file (made on first use, mode 0600)."""
    from core.config import get_settings

    s = settings or get_settings()
    if s.master_key:
        keys = _parse_hex_keys(s.master_key)
        return MasterKeyring({key_id_of(k): k for k in keys}, key_id_of(keys[0]), "env")
    return _keyring_from_file(keyfiles.read_or_create(master_key_file(s), _new_file_content))


def add_version(settings=None) -> MasterKeyring:
    """Append a new master key to the key file and make it current (old versions stay, to unwrap until re-wrapped).

    With ``WLHY_MASTER_KEY`` there is no file to change: the keyring is returned as is (its first key is current;
    put a new key first and keep the old one after it to rotate).
    """
    from core.config import get_settings

    s = settings or get_settings()
    ring = load_keyring(s)
    if ring.source == "env":
        return ring
    path = master_key_file(s)
    data = keyfiles.read_json(path)
    key = secrets.token_bytes(KEY_BYTES)
    data["keys"] = [*data.get("keys", []), key.hex()]
    data["current"] = key_id_of(key)
    keyfiles.write_json(path, data)
    _CACHE.pop((s.master_key, str(path)), None)
    return _keyring_from_file(data)


def drop_versions(keep: set[str], settings=None) -> None:
    """Remove from the key file every version not in ``keep`` (after everything was re-wrapped; file only)."""
    from core.config import get_settings

    s = settings or get_settings()
    if s.master_key:
        return
    path = master_key_file(s)
    data = keyfiles.read_json(path)
    data["keys"] = [k for k in data.get("keys", []) if key_id_of(bytes.fromhex(k)) in keep | {data["current"]}]
    keyfiles.write_json(path, data)
    _CACHE.pop((s.master_key, str(path)), None)


_CACHE: dict[tuple[str, str], MasterKeyring] = {}


def keyring(settings=None, *, fresh: bool = False) -> MasterKeyring:
    """The master keys of this process (read once per key source; ``fresh`` reads them again)."""
    from core.config import get_settings

    s = settings or get_settings()
    where = (s.master_key, str(master_key_file(s)))
    if fresh or where not in _CACHE:
        _CACHE[where] = load_keyring(s)
    return _CACHE[where]


def wrap(plaintext: bytes, context: str, settings=None) -> str:
    """``plaintext`` wrapped under the current master key, bound to ``context``."""
    return keyring(settings).wrap(plaintext, context)


def unwrap(value: str, context: str, settings=None) -> bytes:
    """The plaintext of a wrapped value; the key file is read again when another process added a version."""
    ring = keyring(settings)
    if is_wrapped(value) and value.split(":", 2)[1] not in ring.keys:
        ring = keyring(settings, fresh=True)
    return ring.unwrap(value, context)
