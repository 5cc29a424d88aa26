"""Interoperability with gmssl 3.2.2, the pure-Python library many platform clients use."""

import base64
import secrets

import pytest

from etl.exchange.crypto import (
    generate_keypair,
    open_envelope,
    sm2_decrypt,
    sm2_encrypt,
    sm3_digest,
    sm4_ecb_decrypt,
    sm4_ecb_encrypt,
)

gmssl_sm2 = pytest.importorskip("gmssl.sm2")
gmssl_sm3 = pytest.importorskip("gmssl.sm3")
gmssl_sm4 = pytest.importorskip("gmssl.sm4")
gmssl_func = pytest.importorskip("gmssl.func")

GMSSL_MODE = {"C1C3C2": 1, "C1C2C3": 0}


@pytest.fixture(scope="module")
def keypair():
    # gmssl's public_key.lstrip("04") mangles keys whose X starts with 04 even without the prefix:
    # pick a key gmssl can handle (ours handles every key, see test_sm2).
    while True:
        private, public = generate_keypair()
        if not public[2:].startswith("04"):
            return private, public


def _gmssl(keypair, order):
    private, public = keypair
    return gmssl_sm2.CryptSM2(private_key=private, public_key=public[2:], mode=GMSSL_MODE[order])


@pytest.mark.parametrize("order", ["C1C3C2", "C1C2C3"])
@pytest.mark.parametrize("add_04", [False, True])
def test_we_decrypt_gmssl(keypair, order, add_04):
    message = secrets.token_bytes(16)
    ciphertext = _gmssl(keypair, order).encrypt(message).hex()
    if add_04:
        ciphertext = "04" + ciphertext
    result = sm2_decrypt(ciphertext, keypair[0])
    assert (result.plaintext, result.order) == (message, order)


@pytest.mark.parametrize("order", ["C1C3C2", "C1C2C3"])
def test_gmssl_decrypts_ours(keypair, order):
    message = secrets.token_bytes(16)
    # gmssl expects C1 without 04.
    ciphertext = sm2_encrypt(message, keypair[1], order=order, with_04=False)
    assert _gmssl(keypair, order).decrypt(bytes.fromhex(ciphertext)) == message


def test_gmssl_style_envelope_opens(keypair):
    key = b"0123456789abcdef"
    payload = b'{"shippingNoteNumber": "YD001"}'
    encryptor = gmssl_sm4.CryptSM4()
    encryptor.set_key(key, gmssl_sm4.SM4_ENCRYPT)
    content = base64.b64encode(encryptor.crypt_ecb(payload)).decode()
    code = "04" + _gmssl(keypair, "C1C2C3").encrypt(key).hex()  # the Fujian PHP client's layout
    opened = open_envelope(code, content, [keypair[0]])
    assert (opened.payload, opened.sm4_key, opened.order) == (payload, key, "C1C2C3")


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 100])
def test_sm4_ecb_byte_identical_to_gmssl(length):
    key = secrets.token_bytes(16)
    plaintext = secrets.token_bytes(length)
    encryptor = gmssl_sm4.CryptSM4()
    encryptor.set_key(key, gmssl_sm4.SM4_ENCRYPT)
    theirs = encryptor.crypt_ecb(plaintext)
    assert sm4_ecb_encrypt(key, plaintext) == theirs
    assert sm4_ecb_decrypt(key, theirs) == plaintext


@pytest.mark.parametrize("length", [0, 3, 64, 1000])
def test_sm3_matches_gmssl(length):
    data = secrets.token_bytes(length)
    assert sm3_digest(data).hex() == gmssl_sm3.sm3_hash(gmssl_func.bytes_to_list(data))
