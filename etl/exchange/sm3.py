"""SM3 hash (GB/T 32905) through OpenSSL, and the SM2 key-derivation function built on it."""

from __future__ import annotations

import hashlib

__all__ = ["SM3_BACKEND", "sm3_digest", "sm3_kdf"]


def _hashlib_sm3():
    try:
        hashlib.new("sm3")
    except ValueError:
        return None
    return hashlib.new("sm3")


_HASHLIB_TEMPLATE = _hashlib_sm3()

#: Which implementation :func:`sm3_digest` uses: ``"hashlib"`` (the interpreter's OpenSSL) or
#: ``"cryptography"`` (``hashes.SM3``, for interpreters whose OpenSSL hides SM3).
SM3_BACKEND = "hashlib" if _HASHLIB_TEMPLATE is not None else "cryptography"


def sm3_digest(data: bytes) -> bytes:
    """SM3 digest of ``data``.

    Parameters
    ----------
    data : bytes
        Message.

    Returns
    -------
    bytes
        32-byte digest.
    """
    if _HASHLIB_TEMPLATE is not None:
        # Copying a constructed object is cheaper than hashlib.new(name) on every call.
        h = _HASHLIB_TEMPLATE.copy()
        h.update(data)
        return h.digest()
    from cryptography.hazmat.primitives import hashes

    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def sm3_kdf(z: bytes, length: int) -> bytes:
    """SM2 key-derivation function KDF(Z, klen) of GM/T 0003.4 §5.4.3, with SM3 as the hash.

    Parameters
    ----------
    z : bytes
        Shared secret (``x2 || y2`` in SM2 encryption).
    length : int
        Number of bytes to derive.

    Returns
    -------
    bytes
        ``SM3(Z || ct=1) || SM3(Z || ct=2) || ...`` truncated to ``length`` bytes (the 32-bit counter
        is big-endian and starts at 1).
    """
    blocks = [sm3_digest(z + counter.to_bytes(4, "big")) for counter in range(1, (length + 31) // 32 + 1)]
    return b"".join(blocks)[:length]
