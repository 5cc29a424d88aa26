"""SM4-ECB with PKCS#7 padding (GB/T 32907) through OpenSSL, as the exchange's encryptedContent uses it."""

from __future__ import annotations

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from etl.exchange.crypto_errors import SM4DecryptionError, SM4PaddingError

__all__ = ["SM4_BLOCK_BYTES", "SM4_KEY_BYTES", "sm4_ecb_decrypt", "sm4_ecb_encrypt"]

SM4_BLOCK_BYTES = 16
SM4_KEY_BYTES = 16


def _cipher(key: bytes) -> Cipher:
    if not isinstance(key, (bytes, bytearray)) or len(key) != SM4_KEY_BYTES:
        raise ValueError(f"an SM4 key is {SM4_KEY_BYTES} bytes")
    return Cipher(algorithms.SM4(bytes(key)), modes.ECB())


def sm4_ecb_encrypt(key: bytes, plaintext: bytes, *, pad: bool = True) -> bytes:
    """Encrypt with SM4 in ECB mode.

    Parameters
    ----------
    key : bytes
        16-byte key.
    plaintext : bytes
        Data to encrypt; with ``pad=False`` its length must be a multiple of 16.
    pad : bool, default True
        Apply PKCS#7 padding first (always 1 to 16 bytes, so an empty plaintext gives one block).

    Returns
    -------
    bytes
        Ciphertext, a multiple of 16 bytes.
    """
    if pad:
        padder = padding.PKCS7(SM4_BLOCK_BYTES * 8).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    elif len(plaintext) % SM4_BLOCK_BYTES:
        raise ValueError("without padding the plaintext must be a multiple of 16 bytes")
    encryptor = _cipher(key).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def sm4_ecb_decrypt(key: bytes, ciphertext: bytes, *, pad: bool = True) -> bytes:
    """Decrypt SM4-ECB and remove and check the PKCS#7 padding.

    Parameters
    ----------
    key : bytes
        16-byte key.
    ciphertext : bytes
        A non-empty multiple of 16 bytes.
    pad : bool, default True
        Remove PKCS#7 padding after decrypting.

    Returns
    -------
    bytes
        Plaintext.

    Raises
    ------
    SM4DecryptionError
        The ciphertext is empty or not a whole number of blocks.
    SM4PaddingError
        The padding is invalid, which is what a wrong key or tampered data almost always produce.
    """
    if not ciphertext or len(ciphertext) % SM4_BLOCK_BYTES:
        raise SM4DecryptionError(
            f"SM4 ciphertext is {len(ciphertext)} bytes, not a positive multiple of {SM4_BLOCK_BYTES}"
        )
    decryptor = _cipher(key).decryptor()
    plaintext = decryptor.update(ciphertext) + decryptor.finalize()
    if not pad:
        return plaintext
    unpadder = padding.PKCS7(SM4_BLOCK_BYTES * 8).unpadder()
    try:
        return unpadder.update(plaintext) + unpadder.finalize()
    except ValueError as exc:
        raise SM4PaddingError(
            "invalid PKCS#7 padding after SM4 decryption (wrong key or tampered data)"
        ) from exc
