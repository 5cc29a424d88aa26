"""Exceptions raised by the exchange's SM2/SM3/SM4 crypto and its digital envelope."""

from __future__ import annotations

__all__ = [
    "CryptoError",
    "EnvelopeCodeError",
    "EnvelopeContentError",
    "InvalidKeyError",
    "SM2DecryptionError",
    "SM4DecryptionError",
    "SM4PaddingError",
]


class CryptoError(Exception):
    """Base class of every error raised by ``etl.exchange`` crypto."""


class InvalidKeyError(CryptoError, ValueError):
    """A public or private SM2 key is malformed, out of range or not on the curve."""


class SM2DecryptionError(CryptoError):
    """An SM2 ciphertext is malformed, its C1 is not on the curve, or its C3 check fails."""


class SM4DecryptionError(CryptoError):
    """An SM4 ciphertext is empty or not a whole number of 16-byte blocks."""


class SM4PaddingError(SM4DecryptionError):
    """The PKCS#7 padding of a decrypted SM4 ciphertext is invalid (wrong key or tampered data)."""


class EnvelopeCodeError(CryptoError):
    """``encryptedCode`` cannot be decrypted with any province key (exchange result 3006)."""


class EnvelopeContentError(CryptoError):
    """``encryptedContent`` is not base64, has the wrong length or bad padding (exchange result 3007)."""
