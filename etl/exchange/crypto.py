"""The exchange's digital envelope (spec §1.3): SM4-ECB content under a random key, the key under SM2.

``seal`` is what a platform client does; ``open_envelope`` is what the province does on
``/exchange/send``. The primitives live in :mod:`etl.exchange.sm2`, :mod:`etl.exchange.sm3` and
:mod:`etl.exchange.sm4` and are re-exported here, so callers import from this module only.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from etl.exchange.crypto_errors import (
    CryptoError,
    EnvelopeCodeError,
    EnvelopeContentError,
    InvalidKeyError,
    SM2DecryptionError,
    SM4DecryptionError,
    SM4PaddingError,
)
from etl.exchange.sm2 import (
    C1C2C3,
    C1C3C2,
    PUBLISHED_WEAK_C1,
    PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX,
    SM2_BACKEND,
    WEAK_C1_PREFIX,
    WEAK_C1_SUFFIX,
    Order,
    SM2Plaintext,
    generate_keypair,
    is_published_weak_c1,
    normalise_public_key,
    public_from_private,
    sm2_backend,
    sm2_decrypt,
    sm2_decrypt_bytes,
    sm2_encrypt,
)
from etl.exchange.sm3 import SM3_BACKEND, sm3_digest, sm3_kdf
from etl.exchange.sm4 import SM4_KEY_BYTES, sm4_ecb_decrypt, sm4_ecb_encrypt

__all__ = [
    "C1C2C3",
    "C1C3C2",
    "PUBLISHED_WEAK_C1",
    "PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX",
    "SM2_BACKEND",
    "SM3_BACKEND",
    "WEAK_C1_PREFIX",
    "WEAK_C1_SUFFIX",
    "CryptoError",
    "EnvelopeCodeError",
    "EnvelopeContentError",
    "InvalidKeyError",
    "OpenedEnvelope",
    "SM2DecryptionError",
    "SM2Plaintext",
    "SM4DecryptionError",
    "SM4PaddingError",
    "generate_keypair",
    "is_published_weak_c1",
    "normalise_public_key",
    "open_envelope",
    "public_from_private",
    "seal",
    "sm2_backend",
    "sm2_decrypt",
    "sm2_decrypt_bytes",
    "sm2_encrypt",
    "sm3_digest",
    "sm3_kdf",
    "sm4_ecb_decrypt",
    "sm4_ecb_encrypt",
]

# Legacy Java encoders (sun.misc.BASE64Encoder, MIME) wrap base64 every 76 characters; the line
# breaks carry no data, anything else outside the alphabet is an error.
_BASE64_WHITESPACE = re.compile(r"[\r\n\t ]+")


@dataclass(frozen=True)
class OpenedEnvelope:
    """A decrypted envelope and what it revealed about the sender's client.

    Attributes
    ----------
    payload : bytes
        Decrypted content (UTF-8 JSON for the exchange; not parsed here).
    sm4_key : bytes
        The 16-byte SM4 key the sender drew.
    order : str
        ``"C1C3C2"`` or ``"C1C2C3"``: the SM2 ciphertext order the sender's client uses.
    c1_hex : str
        The sender's ephemeral point, ``"04" + X + Y`` lower-case hex (for weak-envelope checks).
    key_index : int
        Index in ``private_keys`` of the province key that opened it (0 = current).
    """

    payload: bytes
    sm4_key: bytes
    order: str
    c1_hex: str
    key_index: int


def seal(
    payload: bytes,
    public_key_hex: str,
    *,
    order: Order = C1C3C2,
    with_04: bool = True,
    sm4_key: bytes | None = None,
    ephemeral_private_hex: str | None = None,
) -> tuple[str, str]:
    """Make a digital envelope the way a platform client does.

    Parameters
    ----------
    payload : bytes
        Content to send (UTF-8 JSON on the exchange).
    public_key_hex : str
        Province public key, ``04 || X || Y`` or ``X || Y`` hex.
    order : {"C1C3C2", "C1C2C3"}, default "C1C3C2"
        SM2 ciphertext order of ``encryptedCode``.
    with_04 : bool, default True
        Keep the ``04`` in front of C1.
    sm4_key : bytes, optional
        16-byte SM4 key; by default 16 random bytes from :mod:`secrets`.
    ephemeral_private_hex : str, optional
        Fixed SM2 ephemeral key, to produce a weak envelope on purpose (tests, reference client);
        e.g. :data:`PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX`. Never set it otherwise.

    Returns
    -------
    tuple of str
        ``(encryptedCode, encryptedContent)``: SM2 ciphertext of the key as lower-case hex, and
        base64 of the SM4-ECB/PKCS#7 ciphertext of ``payload``.
    """
    key = secrets.token_bytes(SM4_KEY_BYTES) if sm4_key is None else bytes(sm4_key)
    if len(key) != SM4_KEY_BYTES:
        raise ValueError(f"sm4_key must be {SM4_KEY_BYTES} bytes, got {len(key)}")
    encrypted_code = sm2_encrypt(
        key, public_key_hex, order=order, with_04=with_04, ephemeral_private_hex=ephemeral_private_hex
    )
    encrypted_content = base64.b64encode(sm4_ecb_encrypt(key, payload)).decode("ascii")
    return encrypted_code, encrypted_content


def _open_code(encrypted_code: str, private_keys: Sequence[str]) -> tuple[SM2Plaintext, int]:
    if not isinstance(encrypted_code, str):
        raise EnvelopeCodeError("encryptedCode is not a string")
    try:
        data = bytes.fromhex(encrypted_code.strip())
    except ValueError as exc:
        raise EnvelopeCodeError("encryptedCode is not hex") from exc
    for index, private_key in enumerate(private_keys):
        try:
            return sm2_decrypt_bytes(data, private_key), index
        except SM2DecryptionError:
            continue
    # Never how many keys there are (rotation windows would show): only that none opened it.
    raise EnvelopeCodeError("encryptedCode cannot be decrypted with the province key")


def _decode_content(encrypted_content: str) -> bytes:
    if not isinstance(encrypted_content, str):
        raise EnvelopeContentError("encryptedContent is not a string")
    try:
        return base64.b64decode(encrypted_content, validate=True)  # nearly always: no line breaks to strip
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(_BASE64_WHITESPACE.sub("", encrypted_content), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeContentError("encryptedContent is not base64") from exc


def open_envelope(encrypted_code: str, encrypted_content: str, private_keys: Sequence[str]) -> OpenedEnvelope:
    """Open a digital envelope received on the exchange.

    Each private key is tried in turn (the current key first, then the previous one during a
    rotation); SM2 decryption accepts both ciphertext orders and C1 with or without ``04``.

    Parameters
    ----------
    encrypted_code : str
        ``encryptedCode``: hex SM2 ciphertext of the SM4 key.
    encrypted_content : str
        ``encryptedContent``: base64 SM4-ECB/PKCS#7 ciphertext.
    private_keys : sequence of str
        Province private keys, hex, in the order to try them.

    Returns
    -------
    OpenedEnvelope
        Payload, SM4 key, SM2 order, C1 and which key opened it.

    Raises
    ------
    EnvelopeCodeError
        ``encryptedCode`` is not hex, or no key decrypts it to a 16-byte SM4 key (result 3006).
    EnvelopeContentError
        ``encryptedContent`` is not base64, not a positive multiple of 16 bytes, or its padding is
        invalid under that key (result 3007).
    InvalidKeyError
        One of ``private_keys`` is malformed (a configuration error, not the sender's).
    """
    if isinstance(private_keys, str) or not private_keys:
        raise ValueError("private_keys must be a non-empty list of hex private keys")
    opened, key_index = _open_code(encrypted_code, private_keys)
    if len(opened.plaintext) != SM4_KEY_BYTES:
        raise EnvelopeCodeError(
            f"encryptedCode holds {len(opened.plaintext)} bytes, an SM4 key is {SM4_KEY_BYTES}"
        )
    ciphertext = _decode_content(encrypted_content)
    try:
        payload = sm4_ecb_decrypt(opened.plaintext, ciphertext)
    except SM4DecryptionError as exc:
        raise EnvelopeContentError(str(exc)) from exc
    return OpenedEnvelope(
        payload=payload,
        sm4_key=opened.plaintext,
        order=opened.order,
        c1_hex=opened.c1_hex,
        key_index=key_index,
    )
