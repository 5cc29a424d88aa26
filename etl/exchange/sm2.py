"""SM2 public-key encryption (GM/T 0003.4, GB/T 32918.4) on the SM2 recommended curve.

The elliptic-curve scalar multiplication, the only expensive step, runs in OpenSSL's libcrypto through
ctypes when that library knows the SM2 curve (NID 1172); the KDF (SM3), the XOR and the C3 check run in
Python, so this module decides what is accepted, not OpenSSL. A pure-Python curve is the fallback when
libcrypto is missing or lacks SM2: correct but about 100 times slower. :data:`SM2_BACKEND` says which
one is active.

Ciphertexts are hex, ``C1 || C3 || C2`` (GM/T 0003-2012) or ``C1 || C2 || C3`` (legacy clients),
C1 with or without its leading ``04``. Decryption tells the orders apart by checking C3, which it always
compares (in constant time) and never skips.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hmac
import logging
import secrets
from typing import Literal, NamedTuple

from etl.exchange.crypto_errors import CryptoError, InvalidKeyError, SM2DecryptionError
from etl.exchange.sm3 import sm3_digest, sm3_kdf

__all__ = [
    "C1C2C3",
    "C1C3C2",
    "PUBLISHED_WEAK_C1",
    "PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX",
    "SM2_BACKEND",
    "WEAK_C1_PREFIX",
    "WEAK_C1_SUFFIX",
    "Order",
    "SM2Plaintext",
    "generate_keypair",
    "is_published_weak_c1",
    "normalise_public_key",
    "public_from_private",
    "sm2_backend",
    "sm2_decrypt",
    "sm2_decrypt_bytes",
    "sm2_encrypt",
]

_log = logging.getLogger(__name__)

# SM2 recommended curve, GM/T 0003.5-2012 / GB/T 32918.5-2017: y^2 = x^3 + a x + b over F_p, cofactor 1.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

C1C3C2 = "C1C3C2"
C1C2C3 = "C1C2C3"
Order = Literal["C1C3C2", "C1C2C3"]

_COORD_BYTES = 32
_POINT_BYTES = 1 + 2 * _COORD_BYTES  # 04 || X || Y
_C3_BYTES = 32

#: The fixed ephemeral key pair a popular PHP SM2 library (lpilp/phpsm2sm3sm4 and its copies, the
#: ``$foreignKey`` member) uses by default. Its private half is public, so anyone can recompute the SM4
#: key of an envelope whose C1 is this point. Kept here so such envelopes can be recognised, and
#: produced on purpose by tests and the reference client.
PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX = "21fbd478026e2d668e3570e514de0d312e443d1e294c1ca785dfbfb5f74de225"
PUBLISHED_WEAK_C1 = (
    "04e27c3780e7069bda7082a23a489d77587ce309583ed99253f66e1d9833ed1a1d"
    "0b5ce86dc6714e9974cf258589139d7b1855e8c9fa2f2c1175ee123a95a23e9b"
)
WEAK_C1_PREFIX = "04e27c3780e7069bda7082a23a489d77"
WEAK_C1_SUFFIX = "1175ee123a95a23e9b"


class SM2Plaintext(NamedTuple):
    """Result of an SM2 decryption: the plaintext and how the ciphertext was laid out."""

    plaintext: bytes
    order: str
    c1_hex: str  # "04" + X + Y, lower case


# --------------------------------------------------------------------------------------------------
# Curve arithmetic: points are 65-byte uncompressed encodings 04 || X || Y; scalars are ints in [1, n-1].
# --------------------------------------------------------------------------------------------------


def _on_curve(point: bytes) -> bool:
    if len(point) != _POINT_BYTES or point[0] != 4:
        return False
    x = int.from_bytes(point[1:33], "big")
    y = int.from_bytes(point[33:], "big")
    # Coordinates must be reduced field elements: an unreduced x + p would name the same point twice.
    if x >= P or y >= P:
        return False
    return (y * y - (x * x * x + A * x + B)) % P == 0


def _encode(x: int, y: int) -> bytes:
    return b"\x04" + x.to_bytes(_COORD_BYTES, "big") + y.to_bytes(_COORD_BYTES, "big")


class _PythonCurve:
    """Pure-Python SM2 curve: Jacobian coordinates and a Montgomery ladder over a fixed bit length.

    The ladder performs the same sequence of point operations for every scalar, but Python big
    integers are not constant-time, so this is a compatibility fallback, not a hardened implementation.
    """

    name = "python"

    @staticmethod
    def _double(p1):
        x1, y1, z1 = p1
        if z1 == 0 or y1 == 0:
            return (1, 1, 0)
        # dbl-2001-b for a = -3: M = 3 (X - Z^2)(X + Z^2).
        zz = z1 * z1 % P
        yy = y1 * y1 % P
        s = 4 * x1 * yy % P
        m = 3 * (x1 - zz) * (x1 + zz) % P
        x3 = (m * m - 2 * s) % P
        y3 = (m * (s - x3) - 8 * yy * yy) % P
        z3 = 2 * y1 * z1 % P
        return (x3, y3, z3)

    @classmethod
    def _add(cls, p1, p2):
        x1, y1, z1 = p1
        x2, y2, z2 = p2
        if z1 == 0:
            return p2
        if z2 == 0:
            return p1
        z1z1 = z1 * z1 % P
        z2z2 = z2 * z2 % P
        u1 = x1 * z2z2 % P
        u2 = x2 * z1z1 % P
        s1 = y1 * z2 * z2z2 % P
        s2 = y2 * z1 * z1z1 % P
        h = (u2 - u1) % P
        r = (s2 - s1) % P
        if h == 0:
            return cls._double(p1) if r == 0 else (1, 1, 0)
        hh = h * h % P
        hhh = h * hh % P
        v = u1 * hh % P
        x3 = (r * r - hhh - 2 * v) % P
        y3 = (r * (v - x3) - s1 * hhh) % P
        z3 = h * z1 * z2 % P
        return (x3, y3, z3)

    def mul(self, k: int, point: bytes) -> bytes:
        base = (int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big"), 1)
        # k + n or k + 2n has exactly 257 bits, so the ladder length does not depend on k.
        k = k + N if (k + N).bit_length() == 257 else k + 2 * N
        r0, r1 = base, self._double(base)
        for i in range(255, -1, -1):
            if (k >> i) & 1:
                r0, r1 = self._add(r0, r1), self._double(r1)
            else:
                r0, r1 = self._double(r0), self._add(r0, r1)
        x, y, z = r0
        if z == 0:
            raise CryptoError("scalar multiplication gave the point at infinity")
        zinv = pow(z, -1, P)
        zinv2 = zinv * zinv % P
        return _encode(x * zinv2 % P, y * zinv2 * zinv % P)

    def mul_base(self, k: int) -> bytes:
        return self.mul(k, _encode(GX, GY))


class _OpenSSLCurve:
    """SM2 curve arithmetic in libcrypto (EC_POINT_mul, a constant-time ladder for a single point)."""

    name = "openssl"
    _NID_SM2 = 1172
    _POINT_CONVERSION_UNCOMPRESSED = 4

    def __init__(self, lib: ctypes.CDLL):
        vp, cp, sz, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
        self._sig(lib.EC_GROUP_new_by_curve_name, vp, [i])
        self._sig(lib.EC_GROUP_free, None, [vp])
        self._sig(lib.EC_POINT_new, vp, [vp])
        self._sig(lib.EC_POINT_clear_free, None, [vp])
        self._sig(lib.EC_POINT_oct2point, i, [vp, vp, cp, sz, vp])
        self._sig(lib.EC_POINT_point2oct, sz, [vp, vp, i, cp, sz, vp])
        self._sig(lib.EC_POINT_mul, i, [vp, vp, vp, vp, vp, vp])
        self._sig(lib.EC_POINT_is_on_curve, i, [vp, vp, vp])
        self._sig(lib.EC_POINT_is_at_infinity, i, [vp, vp])
        self._sig(lib.BN_bin2bn, vp, [cp, i, vp])
        self._sig(lib.BN_clear_free, None, [vp])
        self._sig(lib.ERR_clear_error, None, [])
        self._lib = lib
        # The group is read-only after creation and may be shared between threads; it lives as long
        # as the process.
        self._group = lib.EC_GROUP_new_by_curve_name(self._NID_SM2)
        if not self._group:
            lib.ERR_clear_error()
            raise OSError("this libcrypto has no SM2 curve")

    @staticmethod
    def _sig(fn, restype, argtypes):
        fn.restype = restype
        fn.argtypes = argtypes

    def _fail(self, what: str):
        # Leave no error on OpenSSL's per-thread queue: hashlib and ssl, which share this libcrypto,
        # would otherwise report it later against an unrelated call.
        self._lib.ERR_clear_error()
        raise CryptoError(f"libcrypto {what} failed")

    def _mul(self, k: int, point: bytes | None) -> bytes:
        lib, group = self._lib, self._group
        scalar = lib.BN_bin2bn(k.to_bytes(_COORD_BYTES, "big"), _COORD_BYTES, None)
        q = lib.EC_POINT_new(group) if point is not None else None
        r = lib.EC_POINT_new(group)
        try:
            if not scalar or not r or (point is not None and not q):
                self._fail("allocation")
            if point is not None:
                if lib.EC_POINT_oct2point(group, q, point, len(point), None) != 1:
                    self._fail("EC_POINT_oct2point")
                if lib.EC_POINT_is_on_curve(group, q, None) != 1:
                    self._fail("EC_POINT_is_on_curve")
                ok = lib.EC_POINT_mul(group, r, None, q, scalar, None)
            else:
                ok = lib.EC_POINT_mul(group, r, scalar, None, None, None)
            if ok != 1:
                self._fail("EC_POINT_mul")
            if lib.EC_POINT_is_at_infinity(group, r):
                raise CryptoError("scalar multiplication gave the point at infinity")
            out = ctypes.create_string_buffer(_POINT_BYTES)
            written = lib.EC_POINT_point2oct(
                group, r, self._POINT_CONVERSION_UNCOMPRESSED, out, _POINT_BYTES, None
            )
            if written != _POINT_BYTES:
                self._fail("EC_POINT_point2oct")
            return out.raw
        finally:
            # clear_free: the product is a shared secret and the scalar a private key.
            lib.EC_POINT_clear_free(r)
            if q:
                lib.EC_POINT_clear_free(q)
            lib.BN_clear_free(scalar)

    def mul(self, k: int, point: bytes) -> bytes:
        return self._mul(k, point)

    def mul_base(self, k: int) -> bytes:
        return self._mul(k, None)


# GM/T 0003.5 example key pair on the recommended curve: checks whichever backend is loaded.
_SELFTEST_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
_SELFTEST_Q = bytes.fromhex(
    "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)


def _load_curve():
    name = ctypes.util.find_library("crypto")
    if name is None:
        _log.warning("libcrypto not found: SM2 uses the slow pure-Python curve")
        return _PythonCurve()
    try:
        curve = _OpenSSLCurve(ctypes.CDLL(name))
        # Two independent checks against the published example: d*G, and a multiple of a non-base point.
        ok = curve.mul_base(_SELFTEST_D) == _SELFTEST_Q and curve.mul(7, _SELFTEST_Q) == _PythonCurve().mul(
            7, _SELFTEST_Q
        )
    except (OSError, AttributeError, CryptoError) as exc:
        _log.warning("libcrypto %s cannot do SM2 (%s): SM2 uses the slow pure-Python curve", name, exc)
        return _PythonCurve()
    if not ok:
        _log.error("libcrypto %s failed the SM2 self-test: SM2 uses the slow pure-Python curve", name)
        return _PythonCurve()
    return curve


_CURVE = _load_curve()

#: Active scalar-multiplication backend: ``"openssl"`` (libcrypto through ctypes) or ``"python"``.
SM2_BACKEND: str = _CURVE.name


def sm2_backend() -> str:
    """Name of the active SM2 curve backend.

    Returns
    -------
    str
        ``"openssl"`` when libcrypto does the scalar multiplication, ``"python"`` for the fallback.
    """
    return _CURVE.name


# --------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------


def _clean_hex(text: str) -> str:
    return text.strip().lower()


def _parse_public_key(public_key_hex: str) -> bytes:
    text = _clean_hex(public_key_hex)
    # Strip the prefix only by length: lstrip("04") would also eat an X that starts with 0 or 4.
    if len(text) == 2 * _POINT_BYTES and text.startswith("04"):
        text = text[2:]
    elif len(text) != 4 * _COORD_BYTES:
        raise InvalidKeyError(
            f"an SM2 public key is 04+X+Y (130 hex) or X+Y (128 hex), got {len(text)} characters"
        )
    try:
        point = b"\x04" + bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidKeyError("SM2 public key is not hex") from exc
    if not _on_curve(point):
        raise InvalidKeyError("SM2 public key is not a point on the SM2 curve")
    return point


def _parse_private_key(private_key_hex: str) -> int:
    text = _clean_hex(private_key_hex)
    if not 0 < len(text) <= 2 * _COORD_BYTES:
        raise InvalidKeyError(f"an SM2 private key is at most 64 hex characters, got {len(text)}")
    try:
        d = int(text, 16)
    except ValueError as exc:
        raise InvalidKeyError("SM2 private key is not hex") from exc
    # GM/T 0003.1 §6.1: d in [1, n-2].
    if not 1 <= d <= N - 2:
        raise InvalidKeyError("SM2 private key is out of range [1, n-2]")
    return d


def normalise_public_key(public_key_hex: str) -> str:
    """Check an SM2 public key and return it as ``"04" + X + Y`` in lower-case hex.

    Parameters
    ----------
    public_key_hex : str
        ``04 || X || Y`` (130 hex characters) or ``X || Y`` (128), any case.

    Returns
    -------
    str
        130 hex characters.

    Raises
    ------
    InvalidKeyError
        Wrong length, not hex, or not a point on the SM2 curve.
    """
    return _parse_public_key(public_key_hex).hex()


def generate_keypair() -> tuple[str, str]:
    """Draw a new SM2 key pair from :mod:`secrets`.

    Returns
    -------
    tuple of str
        ``(private_hex, public_hex)``: 64 hex characters, and ``"04" + X + Y`` (130).
    """
    d = secrets.randbelow(N - 2) + 1
    return f"{d:064x}", _CURVE.mul_base(d).hex()


def public_from_private(private_key_hex: str) -> str:
    """Public key ``d·G`` of an SM2 private key.

    Parameters
    ----------
    private_key_hex : str
        Private key, up to 64 hex characters.

    Returns
    -------
    str
        ``"04" + X + Y``, 130 lower-case hex characters.
    """
    return _CURVE.mul_base(_parse_private_key(private_key_hex)).hex()


def is_published_weak_c1(c1_hex: str) -> bool:
    """Whether a C1 is the published fixed ephemeral point of the PHP SM2 library (spec §1.3).

    Parameters
    ----------
    c1_hex : str
        C1 as hex, with or without its leading ``04``.

    Returns
    -------
    bool
        True when C1 starts with :data:`WEAK_C1_PREFIX` and ends with :data:`WEAK_C1_SUFFIX`
        (after adding a missing ``04``).
    """
    text = _clean_hex(c1_hex)
    if len(text) == 4 * _COORD_BYTES:
        text = "04" + text
    return len(text) == 2 * _POINT_BYTES and text.startswith(WEAK_C1_PREFIX) and text.endswith(WEAK_C1_SUFFIX)


# --------------------------------------------------------------------------------------------------
# Encryption and decryption
# --------------------------------------------------------------------------------------------------


def _xor(data: bytes, mask: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(data), "big")


def sm2_encrypt(
    plaintext: bytes,
    public_key_hex: str,
    *,
    order: Order = C1C3C2,
    with_04: bool = True,
    ephemeral_private_hex: str | None = None,
) -> str:
    """Encrypt with SM2 (GM/T 0003.4 §6.1).

    Parameters
    ----------
    plaintext : bytes
        Message, at least one byte.
    public_key_hex : str
        Recipient's public key, ``04 || X || Y`` or ``X || Y`` hex.
    order : {"C1C3C2", "C1C2C3"}, default "C1C3C2"
        Ciphertext layout: GM/T 0003-2012, or the legacy one.
    with_04 : bool, default True
        Keep the ``04`` in front of C1.
    ephemeral_private_hex : str, optional
        Fixed ephemeral key k. Only for tests and for reproducing weak clients: a reused k lets anyone
        who sees two ciphertexts, or knows k, recover the plaintexts. By default k comes from
        :mod:`secrets`, fresh for every call.

    Returns
    -------
    str
        Ciphertext, lower-case hex.
    """
    if order not in (C1C3C2, C1C2C3):
        raise ValueError(f"order must be 'C1C3C2' or 'C1C2C3', got {order!r}")
    if not plaintext:
        raise ValueError("SM2 cannot encrypt an empty message")
    recipient = _parse_public_key(public_key_hex)
    while True:
        if ephemeral_private_hex is None:
            k = secrets.randbelow(N - 1) + 1
        else:
            k = _parse_private_key(ephemeral_private_hex)
        c1 = _CURVE.mul_base(k)
        shared = _CURVE.mul(k, recipient)
        x2, y2 = shared[1:33], shared[33:]
        t = sm3_kdf(x2 + y2, len(plaintext))
        if any(t):
            break
        # An all-zero KDF output (probability ~2^-256 per byte count) means: draw another k (§6.1 A5).
        if ephemeral_private_hex is not None:
            raise CryptoError("the fixed ephemeral key gives an all-zero KDF output")
    c2 = _xor(plaintext, t)
    c3 = sm3_digest(x2 + plaintext + y2)
    if not with_04:
        c1 = c1[1:]
    body = c3 + c2 if order == C1C3C2 else c2 + c3
    return (c1 + body).hex()


def _c1_candidates(data: bytes):
    """(C1 as 65 bytes, rest) splits of a ciphertext: with the 04 first, then without it."""
    minimum_rest = _C3_BYTES + 1
    if data[:1] == b"\x04" and len(data) >= _POINT_BYTES + minimum_rest:
        yield data[:_POINT_BYTES], data[_POINT_BYTES:]
    # Without the 04 prefix. Also tried when the data starts with 04, since X itself may start with 04.
    if len(data) >= _POINT_BYTES - 1 + minimum_rest:
        yield b"\x04" + data[: _POINT_BYTES - 1], data[_POINT_BYTES - 1 :]


def _decrypt(data: bytes, d: int) -> SM2Plaintext:
    saw_point = False
    for c1, rest in _c1_candidates(data):
        # B1: C1 must be on the curve; with cofactor 1, B2 ([h]C1 not at infinity) then holds too.
        if not _on_curve(c1):
            continue
        saw_point = True
        shared = _CURVE.mul(d, c1)
        x2, y2 = shared[1:33], shared[33:]
        length = len(rest) - _C3_BYTES
        t = sm3_kdf(x2 + y2, length)
        if not any(t):
            # B4: an all-zero t is an error, never a key stream.
            continue
        for order, c3, c2 in (
            (C1C3C2, rest[:_C3_BYTES], rest[_C3_BYTES:]),
            (C1C2C3, rest[length:], rest[:length]),
        ):
            message = _xor(c2, t)
            if hmac.compare_digest(sm3_digest(x2 + message + y2), c3):
                return SM2Plaintext(message, order, c1.hex())
    if not saw_point:
        raise SM2DecryptionError("SM2 ciphertext is too short or its C1 is not a point on the SM2 curve")
    raise SM2DecryptionError("SM2 C3 check failed in both orders (wrong key or tampered ciphertext)")


def sm2_decrypt_bytes(ciphertext: bytes, private_key_hex: str) -> SM2Plaintext:
    """Decrypt a binary SM2 ciphertext; see :func:`sm2_decrypt`.

    Parameters
    ----------
    ciphertext : bytes
        ``C1 || C3 || C2`` or ``C1 || C2 || C3``, C1 with or without ``04``.
    private_key_hex : str
        Private key, up to 64 hex characters.

    Returns
    -------
    SM2Plaintext
        Plaintext, the order found, and C1 as ``04`` + X + Y hex.
    """
    return _decrypt(ciphertext, _parse_private_key(private_key_hex))


def sm2_decrypt(ciphertext_hex: str, private_key_hex: str) -> SM2Plaintext:
    """Decrypt an SM2 ciphertext (GM/T 0003.4 §7.1) in either order, C1 with or without ``04``.

    C1C3C2 is tried first, then C1C2C3; the one whose C3 verifies wins. C3 is always compared, in
    constant time.

    Parameters
    ----------
    ciphertext_hex : str
        Ciphertext as hex, any case.
    private_key_hex : str
        Private key, up to 64 hex characters.

    Returns
    -------
    SM2Plaintext
        Plaintext, the order found, and C1 as ``04`` + X + Y hex.

    Raises
    ------
    SM2DecryptionError
        Not hex, too short, C1 off the curve, all-zero KDF output, or C3 mismatch in both orders.
    InvalidKeyError
        The private key is malformed.
    """
    try:
        data = bytes.fromhex(_clean_hex(ciphertext_hex))
    except ValueError as exc:
        raise SM2DecryptionError("SM2 ciphertext is not hex") from exc
    return sm2_decrypt_bytes(data, private_key_hex)
