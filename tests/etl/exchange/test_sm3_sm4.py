"""SM3 and SM4-ECB: published vectors, padding checks and the errors the exchange maps to 3007."""

import pytest

from etl.exchange.crypto import (
    SM4DecryptionError,
    SM4PaddingError,
    sm3_digest,
    sm3_kdf,
    sm4_ecb_decrypt,
    sm4_ecb_encrypt,
)

# GB/T 32907-2016 Appendix A example 1: key = plaintext = 0123456789abcdeffedcba9876543210.
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_BLOCK_CIPHERTEXT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")


def test_sm4_single_block_matches_gbt_32907_vector():
    assert sm4_ecb_encrypt(SM4_KEY, SM4_KEY, pad=False) == SM4_BLOCK_CIPHERTEXT
    assert sm4_ecb_decrypt(SM4_KEY, SM4_BLOCK_CIPHERTEXT, pad=False) == SM4_KEY


def test_sm4_ecb_pkcs7_adds_a_full_block_to_a_block_aligned_plaintext():
    ciphertext = sm4_ecb_encrypt(SM4_KEY, SM4_KEY)
    # ECB: the first block is the bare vector; the second is sixteen 0x10 padding bytes.
    assert len(ciphertext) == 32
    assert ciphertext[:16] == SM4_BLOCK_CIPHERTEXT
    assert ciphertext[16:] == sm4_ecb_encrypt(SM4_KEY, bytes([16]) * 16, pad=False)


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 1000])
def test_sm4_round_trip(length):
    plaintext = bytes(range(256)) * 4
    plaintext = plaintext[:length]
    ciphertext = sm4_ecb_encrypt(SM4_KEY, plaintext)
    assert len(ciphertext) == (length // 16 + 1) * 16
    assert sm4_ecb_decrypt(SM4_KEY, ciphertext) == plaintext


@pytest.mark.parametrize("last_byte", [0x00, 0x11, 0x41])
def test_sm4_padding_byte_out_of_range_raises(last_byte):
    ciphertext = sm4_ecb_encrypt(SM4_KEY, b"A" * 15 + bytes([last_byte]), pad=False)
    with pytest.raises(SM4PaddingError):
        sm4_ecb_decrypt(SM4_KEY, ciphertext)


def test_sm4_inconsistent_padding_bytes_raise():
    # Claims 3 bytes of padding but the two before the last are not 0x03.
    ciphertext = sm4_ecb_encrypt(SM4_KEY, b"A" * 13 + b"\x01\x02\x03", pad=False)
    with pytest.raises(SM4PaddingError):
        sm4_ecb_decrypt(SM4_KEY, ciphertext)


@pytest.mark.parametrize("length", [0, 1, 15, 17, 31])
def test_sm4_ciphertext_not_whole_blocks_raises(length):
    with pytest.raises(SM4DecryptionError):
        sm4_ecb_decrypt(SM4_KEY, b"\x00" * length)


def test_sm4_rejects_a_key_that_is_not_16_bytes():
    with pytest.raises(ValueError):
        sm4_ecb_encrypt(b"k" * 15, b"data")


def test_sm3_matches_gbt_32905_examples():
    assert sm3_digest(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    abcd_digest = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    assert sm3_digest(b"abcd" * 16).hex() == abcd_digest


def test_sm3_kdf_concatenates_counter_blocks_from_one():
    z = b"shared secret"
    expected = sm3_digest(z + b"\x00\x00\x00\x01") + sm3_digest(z + b"\x00\x00\x00\x02")
    assert sm3_kdf(z, 40) == expected[:40]
    assert sm3_kdf(z, 16) == expected[:16]
