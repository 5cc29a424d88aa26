"""Exchange crypto speed: our SM4/SM3/SM2 (OpenSSL-backed) against gmssl 3.2.2 (pure Python), one core.

Every figure is the median of ``--repeat`` timed loops of about ``--seconds`` each. gmssl's SM4 and SM3
run on a smaller buffer (``--gmssl-kib``), since they manage about 0.2 MiB/s; MiB/s scales linearly.

    .venv/bin/python bench/crypto.py [--seconds 1] [--repeat 3] [--gmssl-kib 64]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
from collections.abc import Callable

from etl.exchange import sm2
from etl.exchange.crypto import (
    generate_keypair,
    open_envelope,
    seal,
    sm2_decrypt,
    sm2_encrypt,
    sm3_digest,
    sm4_ecb_decrypt,
    sm4_ecb_encrypt,
)

MIB = 1 << 20


def show(label: str, value: str) -> None:
    print(f"{label:<40}: {value}")


def rate(fn: Callable[[], object], seconds: float, repeat: int) -> float:
    """Median calls per second of ``fn`` over ``repeat`` loops of at least ``seconds`` each."""
    rates = []
    for _ in range(repeat):
        calls = 0
        start = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        rates.append(calls / elapsed)
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gmssl-kib", type=int, default=64)
    args = parser.parse_args()
    seconds, repeat = args.seconds, args.repeat

    try:
        from gmssl import func as gfunc
        from gmssl import sm2 as gsm2
        from gmssl import sm3 as gsm3
        from gmssl import sm4 as gsm4
    except ImportError:
        gsm2 = None

    show("SM2 backend", f"{sm2.sm2_backend()}; median of {repeat} loops of {seconds:g} s; one core")
    key = secrets.token_bytes(16)
    big = os.urandom(MIB)
    small = os.urandom(args.gmssl_kib * 1024)

    # SM4-ECB + PKCS#7, encrypt then decrypt the same buffer.
    ours_sm4 = rate(lambda: sm4_ecb_decrypt(key, sm4_ecb_encrypt(key, big)), seconds, repeat)
    show("SM4-ECB enc+dec ours 1 MiB", f"{ours_sm4:10.2f} MiB/s")
    if gsm2 is not None:
        enc, dec = gsm4.CryptSM4(), gsm4.CryptSM4()
        enc.set_key(key, gsm4.SM4_ENCRYPT)
        dec.set_key(key, gsm4.SM4_DECRYPT)
        g = rate(lambda: dec.crypt_ecb(enc.crypt_ecb(small)), seconds, repeat) * len(small) / MIB
        label = f"SM4-ECB enc+dec gmssl {args.gmssl_kib} KiB scaled"
        show(label, f"{g:10.3f} MiB/s  (ours x{ours_sm4 / g:,.0f})")

    ours_sm3 = rate(lambda: sm3_digest(big), seconds, repeat)
    show("SM3 ours 1 MiB", f"{ours_sm3:10.2f} MiB/s")
    if gsm2 is not None:
        small_list = gfunc.bytes_to_list(small)
        g = rate(lambda: gsm3.sm3_hash(small_list), seconds, repeat) * len(small) / MIB
        show(f"SM3 gmssl {args.gmssl_kib} KiB scaled", f"{g:10.3f} MiB/s  (ours x{ours_sm3 / g:,.0f})")

    # SM2 on a 16-byte SM4 key, as in encryptedCode. gmssl takes its public key without 04 and
    # mangles an X starting with 04, so draw a key it can use.
    while True:
        private, public = generate_keypair()
        if not public[2:].startswith("04"):
            break
    ciphertext = sm2_encrypt(key, public)
    ours_dec = rate(lambda: sm2_decrypt(ciphertext, private), seconds, repeat)
    ours_enc = rate(lambda: sm2_encrypt(key, public), seconds, repeat)
    show(f"SM2 decrypt ours ({sm2.sm2_backend()})", f"{ours_dec:10.0f} /s")
    show(f"SM2 encrypt ours ({sm2.sm2_backend()})", f"{ours_enc:10.0f} /s")
    fallback, sm2._CURVE = sm2._CURVE, sm2._PythonCurve()
    try:
        py_dec = rate(lambda: sm2_decrypt(ciphertext, private), seconds, repeat)
        py_enc = rate(lambda: sm2_encrypt(key, public), seconds, repeat)
    finally:
        sm2._CURVE = fallback
    show("SM2 decrypt ours (python fallback)", f"{py_dec:10.0f} /s")
    show("SM2 encrypt ours (python fallback)", f"{py_enc:10.0f} /s")
    if gsm2 is not None:
        gm = gsm2.CryptSM2(private_key=private, public_key=public[2:], mode=1)
        gct = gm.encrypt(key)
        g_dec = rate(lambda: gm.decrypt(gct), seconds, repeat)
        g_enc = rate(lambda: gm.encrypt(key), seconds, repeat)
        show("SM2 decrypt gmssl", f"{g_dec:10.0f} /s  (ours x{ours_dec / g_dec:,.1f})")
        show("SM2 encrypt gmssl", f"{g_enc:10.0f} /s  (ours x{ours_enc / g_enc:,.1f})")

    # A whole envelope as the exchange opens it: SM2 of the key plus SM4 of a 4 KiB JSON payload.
    code, content = seal(os.urandom(4096), public)
    opened = rate(lambda: open_envelope(code, content, [private]), seconds, repeat)
    show("open_envelope ours 4 KiB payload", f"{opened:10.0f} /s")
    # The platform's side of the same envelope (a client sealing every message: what the demo feed pays per message).
    payload = os.urandom(4096)
    sealed = rate(lambda: seal(payload, public), seconds, repeat)
    show("seal ours 4 KiB payload (client side)", f"{sealed:10.0f} /s  ({1000 / sealed:.2f} ms each)")


if __name__ == "__main__":
    main()
