"""SM2 encryption: the published example, key parsing, ciphertext layouts, tampering, both backends."""

import pytest

from etl.exchange import sm2
from etl.exchange.crypto import (
    PUBLISHED_WEAK_C1,
    PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX,
    WEAK_C1_PREFIX,
    WEAK_C1_SUFFIX,
    CryptoError,
    InvalidKeyError,
    SM2DecryptionError,
    generate_keypair,
    is_published_weak_c1,
    normalise_public_key,
    public_from_private,
    sm2_decrypt,
    sm2_encrypt,
)

# GM/T 0003.5-2012 (GB/T 32918.5) encryption example on the recommended curve, as used by the
# openHiTLS self-test (openHiTLS/openHiTLS crypto/provider/src/cmvp/cmvp_utils/cmvp_selftest_sm2.c,
# SM2_TEST_KEYS and SM2_CRYPT_TEST_VECTOR); the same C1, C3 and C2 appear DER-wrapped in other
# public SM2 test code. Ciphertext is 04 || C1 || C3 || C2.
KAT_PRIVATE = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
KAT_PUBLIC = (
    "04"
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
KAT_K = "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21"
KAT_MESSAGE = b"encryption standard"
KAT_C1 = (
    "04"
    "04ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73"
    "e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0"
)
KAT_C3 = "59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766"
KAT_C2 = "21886ca989ca9c7d58087307ca93092d651efa"


@pytest.fixture(params=["openssl", "python"])
def backend(request, monkeypatch):
    """Run a test on libcrypto's curve and on the pure-Python fallback."""
    if request.param == "python":
        monkeypatch.setattr(sm2, "_CURVE", sm2._PythonCurve())
    elif sm2.SM2_BACKEND != "openssl":
        pytest.skip("libcrypto has no SM2 curve here")
    return request.param


def test_openssl_backend_is_active():
    # Debian's libcrypto 3 has SM2; the fallback would miss the 1,000 decryptions/s target.
    assert sm2.sm2_backend() == "openssl"


def test_public_key_of_the_standard_example(backend):
    assert public_from_private(KAT_PRIVATE) == KAT_PUBLIC
    assert public_from_private(KAT_PRIVATE.upper()) == KAT_PUBLIC


def test_encrypt_reproduces_the_standard_example(backend):
    ciphertext = sm2_encrypt(KAT_MESSAGE, KAT_PUBLIC, ephemeral_private_hex=KAT_K)
    assert ciphertext == KAT_C1 + KAT_C3 + KAT_C2


@pytest.mark.parametrize(
    ("layout", "order"),
    [
        (KAT_C1 + KAT_C3 + KAT_C2, "C1C3C2"),
        (KAT_C1 + KAT_C2 + KAT_C3, "C1C2C3"),
        # This C1's X itself starts with 04: without the prefix the hex still begins "04".
        (KAT_C1[2:] + KAT_C3 + KAT_C2, "C1C3C2"),
        (KAT_C1[2:] + KAT_C2 + KAT_C3, "C1C2C3"),
        ((KAT_C1 + KAT_C3 + KAT_C2).upper(), "C1C3C2"),
    ],
)
def test_decrypt_the_standard_example_in_every_layout(backend, layout, order):
    result = sm2_decrypt(layout, KAT_PRIVATE)
    assert result.plaintext == KAT_MESSAGE
    assert result.order == order
    assert result.c1_hex == KAT_C1


def test_encrypt_orders_and_prefix_lay_out_the_same_parts():
    c1c3c2 = sm2_encrypt(KAT_MESSAGE, KAT_PUBLIC, ephemeral_private_hex=KAT_K, order="C1C2C3", with_04=False)
    assert c1c3c2 == KAT_C1[2:] + KAT_C2 + KAT_C3


def test_published_weak_ephemeral_key_matches_its_point():
    assert public_from_private(PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX) == PUBLISHED_WEAK_C1
    assert PUBLISHED_WEAK_C1.startswith(WEAK_C1_PREFIX) and PUBLISHED_WEAK_C1.endswith(WEAK_C1_SUFFIX)
    assert is_published_weak_c1(PUBLISHED_WEAK_C1)
    assert is_published_weak_c1(PUBLISHED_WEAK_C1[2:].upper())
    assert not is_published_weak_c1(KAT_C1)
    assert not is_published_weak_c1(KAT_C1[2:])


def test_random_encryptions_use_fresh_ephemeral_keys():
    _, public = generate_keypair()
    c1s = {sm2_encrypt(b"k" * 16, public)[:130] for _ in range(20)}
    assert len(c1s) == 20


def test_generate_keypair_shapes_and_consistency():
    private, public = generate_keypair()
    assert len(private) == 64 and len(public) == 130 and public.startswith("04")
    assert public_from_private(private) == public
    assert generate_keypair()[0] != private


def _keypair_whose_x_starts_with(prefix: str) -> tuple[str, str]:
    while True:
        private, public = generate_keypair()
        if public[2:].startswith(prefix):
            return private, public


@pytest.mark.parametrize("prefix", ["0", "4", "04"])
def test_keys_whose_x_starts_with_0_or_4_parse_in_both_forms(prefix):
    private, public = _keypair_whose_x_starts_with(prefix)
    for form in (public, public[2:], public.upper()):
        assert normalise_public_key(form) == public
        ciphertext = sm2_encrypt(b"sixteen byte key", form)
        assert sm2_decrypt(ciphertext, private).plaintext == b"sixteen byte key"


@pytest.mark.parametrize(
    "bad",
    [
        KAT_PUBLIC[:-2],  # 128 hex but really a truncated 04-prefixed key: off the curve
        KAT_PUBLIC[:-2] + "00",  # right length, Y changed: off the curve
        "05" + KAT_PUBLIC[2:],  # 130 hex without the 04 prefix
        KAT_PUBLIC[2:-1],  # odd length
        "zz" + KAT_PUBLIC[4:],
        "",
    ],
)
def test_bad_public_keys_are_rejected(bad):
    with pytest.raises(InvalidKeyError):
        normalise_public_key(bad)
    with pytest.raises(InvalidKeyError):
        sm2_encrypt(b"x", bad)


@pytest.mark.parametrize("bad", ["0", "", "g" * 64, "1" * 65, f"{sm2.N - 1:064x}", f"{sm2.N:064x}"])
def test_bad_private_keys_are_rejected(bad):
    with pytest.raises(InvalidKeyError):
        public_from_private(bad)


def _flip(hex_text: str, position: int) -> str:
    flipped = "%x" % (int(hex_text[position], 16) ^ 1)
    return hex_text[:position] + flipped + hex_text[position + 1 :]


@pytest.mark.parametrize(
    ("position", "what"),
    [
        (130 + 10, "C3"),
        (130 + 64 + 5, "C2"),
        (len(KAT_C1 + KAT_C3 + KAT_C2) - 1, "last byte of C2"),
    ],
)
def test_tampered_c3_or_c2_raises(backend, position, what):
    with pytest.raises(SM2DecryptionError, match="C3 check failed"):
        sm2_decrypt(_flip(KAT_C1 + KAT_C3 + KAT_C2, position), KAT_PRIVATE)


@pytest.mark.parametrize("position", [10, 100])
def test_tampered_c1_off_the_curve_raises(backend, position):
    tampered = _flip(KAT_C1, position)
    assert not sm2._on_curve(bytes.fromhex(tampered))
    with pytest.raises(SM2DecryptionError, match="not a point"):
        sm2_decrypt(tampered + KAT_C3 + KAT_C2, KAT_PRIVATE)


def test_c1_replaced_by_another_curve_point_raises(backend):
    other_point = public_from_private("02")
    with pytest.raises(SM2DecryptionError, match="C3 check failed"):
        sm2_decrypt(other_point + KAT_C3 + KAT_C2, KAT_PRIVATE)


def test_wrong_private_key_raises():
    private, _ = generate_keypair()
    with pytest.raises(SM2DecryptionError):
        sm2_decrypt(KAT_C1 + KAT_C3 + KAT_C2, private)


@pytest.mark.parametrize("ciphertext", ["", "04", KAT_C1 + KAT_C3, "xyz" + KAT_C3])
def test_malformed_ciphertexts_raise(ciphertext):
    with pytest.raises(SM2DecryptionError):
        sm2_decrypt(ciphertext, KAT_PRIVATE)


def test_all_zero_kdf_output_is_an_error_on_decrypt(monkeypatch):
    monkeypatch.setattr(sm2, "sm3_kdf", lambda z, length: bytes(length))
    with pytest.raises(SM2DecryptionError):
        sm2_decrypt(KAT_C1 + KAT_C3 + KAT_C2, KAT_PRIVATE)


def test_all_zero_kdf_output_draws_a_new_ephemeral_key_on_encrypt(monkeypatch):
    real_kdf = sm2.sm3_kdf
    calls = []

    def zero_once(z, length):
        calls.append(z)
        return bytes(length) if len(calls) == 1 else real_kdf(z, length)

    monkeypatch.setattr(sm2, "sm3_kdf", zero_once)
    ciphertext = sm2_encrypt(KAT_MESSAGE, KAT_PUBLIC)
    assert len(calls) == 2 and calls[0] != calls[1]
    monkeypatch.setattr(sm2, "sm3_kdf", real_kdf)
    assert sm2_decrypt(ciphertext, KAT_PRIVATE).plaintext == KAT_MESSAGE
    # A fixed ephemeral key cannot be redrawn: that is an error, not a silent zero key stream.
    monkeypatch.setattr(sm2, "sm3_kdf", lambda z, length: bytes(length))
    with pytest.raises(CryptoError):
        sm2_encrypt(KAT_MESSAGE, KAT_PUBLIC, ephemeral_private_hex=KAT_K)


def test_encrypt_rejects_empty_message_and_unknown_order():
    with pytest.raises(ValueError):
        sm2_encrypt(b"", KAT_PUBLIC)
    with pytest.raises(ValueError):
        sm2_encrypt(b"x", KAT_PUBLIC, order="C2C1C3")


def test_backends_agree_on_random_scalars():
    if sm2.SM2_BACKEND != "openssl":
        pytest.skip("libcrypto has no SM2 curve here")
    python_curve = sm2._PythonCurve()
    point = bytes.fromhex(KAT_PUBLIC)
    for k in (1, 2, 3, sm2.N - 1, int(KAT_K, 16), int(generate_keypair()[0], 16)):
        assert sm2._CURVE.mul(k, point) == python_curve.mul(k, point)
        assert sm2._CURVE.mul_base(k) == python_curve.mul_base(k)


def test_concurrent_decryptions_in_threads_are_correct():
    # The exchange decrypts in a thread pool; libcrypto runs without the GIL and shares one EC_GROUP.
    from concurrent.futures import ThreadPoolExecutor

    private, public = generate_keypair()
    messages = [bytes([i]) * 16 for i in range(1, 41)]
    ciphertexts = [sm2_encrypt(m, public) for m in messages]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: sm2_decrypt(c, private).plaintext, ciphertexts * 5))
    assert results == messages * 5
