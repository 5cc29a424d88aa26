"""Digital envelope: what a platform seals, the province opens, and the 3006/3007 failures."""

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.exchange.crypto import (
    PUBLISHED_WEAK_C1,
    PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX,
    CryptoError,
    EnvelopeCodeError,
    EnvelopeContentError,
    InvalidKeyError,
    OpenedEnvelope,
    generate_keypair,
    is_published_weak_c1,
    open_envelope,
    seal,
    sm2_encrypt,
    sm4_ecb_encrypt,
)

PROVINCE_PRIVATE, PROVINCE_PUBLIC = generate_keypair()
PREVIOUS_PRIVATE, PREVIOUS_PUBLIC = generate_keypair()
PAYLOAD = json.dumps({"vehicleNumber": "皖A12345", "vehiclePlateColorCode": "2"}, ensure_ascii=False).encode()
# Fujian-style clients draw 16 ASCII characters as the SM4 key.
ASCII_KEY = b"Ab3dEf7hIj1lMn0p"


def test_envelope_errors_share_one_base():
    assert issubclass(EnvelopeCodeError, CryptoError) and issubclass(EnvelopeContentError, CryptoError)
    assert not issubclass(EnvelopeCodeError, EnvelopeContentError)


@pytest.mark.parametrize("order", ["C1C3C2", "C1C2C3"])
@pytest.mark.parametrize("with_04", [True, False])
def test_seal_then_open_in_every_layout(order, with_04):
    code, content = seal(PAYLOAD, PROVINCE_PUBLIC, order=order, with_04=with_04, sm4_key=ASCII_KEY)
    assert len(code) == (65 if with_04 else 64) * 2 + (32 + 16) * 2
    opened = open_envelope(code, content, [PROVINCE_PRIVATE])
    assert opened == OpenedEnvelope(
        payload=PAYLOAD, sm4_key=ASCII_KEY, order=order, c1_hex=code[:130] if with_04 else "04" + code[:128],
        key_index=0,
    )


def test_default_envelope_is_04_c1c3c2_with_a_random_key():
    code, content = seal(PAYLOAD, PROVINCE_PUBLIC)
    other_code, other_content = seal(PAYLOAD, PROVINCE_PUBLIC)
    opened = open_envelope(code, content, [PROVINCE_PRIVATE])
    assert code.startswith("04") and opened.order == "C1C3C2"
    assert opened.sm4_key != open_envelope(other_code, other_content, [PROVINCE_PRIVATE]).sm4_key
    assert content != other_content


def test_content_is_base64_of_sm4_ecb_pkcs7():
    _, content = seal(PAYLOAD, PROVINCE_PUBLIC, sm4_key=ASCII_KEY)
    assert base64.b64decode(content) == sm4_ecb_encrypt(ASCII_KEY, PAYLOAD)


def test_rotation_opens_with_the_previous_key():
    code, content = seal(PAYLOAD, PREVIOUS_PUBLIC)
    opened = open_envelope(code, content, [PROVINCE_PRIVATE, PREVIOUS_PRIVATE])
    assert opened.payload == PAYLOAD and opened.key_index == 1


def test_wrong_key_is_a_code_error():
    code, content = seal(PAYLOAD, PREVIOUS_PUBLIC)
    with pytest.raises(EnvelopeCodeError):
        open_envelope(code, content, [PROVINCE_PRIVATE])


@pytest.mark.parametrize(
    "code",
    [
        "not hex",
        "",
        "04" + "00" * 120,  # C1 off the curve
        sm2_encrypt(b"x" * 17, PROVINCE_PUBLIC),  # decrypts, but not to a 16-byte SM4 key
    ],
)
def test_bad_encrypted_code_is_a_code_error(code):
    _, content = seal(PAYLOAD, PROVINCE_PUBLIC)
    with pytest.raises(EnvelopeCodeError):
        open_envelope(code, content, [PROVINCE_PRIVATE])


def test_tampered_c3_is_a_code_error():
    code, content = seal(PAYLOAD, PROVINCE_PUBLIC)
    tampered = code[:140] + ("0" if code[140] != "0" else "1") + code[141:]
    with pytest.raises(EnvelopeCodeError):
        open_envelope(tampered, content, [PROVINCE_PRIVATE])


def _content(ciphertext: bytes) -> str:
    return base64.b64encode(ciphertext).decode()


@pytest.mark.parametrize(
    "content",
    [
        "***not base64***",
        "QUJD=",  # bad base64 padding
        "",  # no ciphertext at all
        _content(b"\x00" * 20),  # not whole 16-byte blocks
        _content(sm4_ecb_encrypt(ASCII_KEY, PAYLOAD)[:-1]),  # truncated by one byte
        # Truncated by a whole block: the remaining last block decrypts to "AAAA…", invalid padding.
        _content(sm4_ecb_encrypt(ASCII_KEY, b"A" * 20)[:16]),
        # Decrypts under the key, but its last byte 0x41 is not PKCS#7 padding.
        _content(sm4_ecb_encrypt(ASCII_KEY, b"A" * 16, pad=False)),
    ],
)
def test_bad_encrypted_content_is_a_content_error(content):
    code, _ = seal(PAYLOAD, PROVINCE_PUBLIC, sm4_key=ASCII_KEY)
    with pytest.raises(EnvelopeContentError):
        open_envelope(code, content, [PROVINCE_PRIVATE])


def test_base64_wrapped_at_76_columns_is_accepted():
    code, content = seal(PAYLOAD * 10, PROVINCE_PUBLIC)
    wrapped = "\r\n".join(content[i : i + 76] for i in range(0, len(content), 76))
    assert open_envelope(code, wrapped, [PROVINCE_PRIVATE]).payload == PAYLOAD * 10


def test_weak_envelope_is_opened_and_recognisable():
    code, content = seal(PAYLOAD, PROVINCE_PUBLIC, ephemeral_private_hex=PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX)
    again, _ = seal(b"other", PROVINCE_PUBLIC, ephemeral_private_hex=PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX)
    opened = open_envelope(code, content, [PROVINCE_PRIVATE])
    assert opened.payload == PAYLOAD
    assert opened.c1_hex == PUBLISHED_WEAK_C1 == again[:130]
    assert is_published_weak_c1(opened.c1_hex)
    assert not is_published_weak_c1(open_envelope(*seal(PAYLOAD, PROVINCE_PUBLIC), [PROVINCE_PRIVATE]).c1_hex)


def test_configuration_mistakes_are_not_blamed_on_the_sender():
    code, content = seal(PAYLOAD, PROVINCE_PUBLIC)
    with pytest.raises(ValueError):
        open_envelope(code, content, PROVINCE_PRIVATE)  # a bare string, not a list
    with pytest.raises(ValueError):
        open_envelope(code, content, [])
    with pytest.raises(InvalidKeyError):
        open_envelope(code, content, ["not a key"])
    with pytest.raises(ValueError):
        seal(PAYLOAD, PROVINCE_PUBLIC, sm4_key=b"short")


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(max_size=2048),
    order=st.sampled_from(["C1C3C2", "C1C2C3"]),
    with_04=st.booleans(),
)
def test_seal_open_round_trip(payload, order, with_04):
    code, content = seal(payload, PROVINCE_PUBLIC, order=order, with_04=with_04)
    opened = open_envelope(code, content, [PREVIOUS_PRIVATE, PROVINCE_PRIVATE])
    assert (opened.payload, opened.order, opened.key_index) == (payload, order, 1)
