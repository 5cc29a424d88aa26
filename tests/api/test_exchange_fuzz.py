"""Hostile input through a real uvicorn: ≥ 10,000 generated requests to /exchange/auth, /exchange/send and the
people login — bad JSON, deep nesting, sizes, encodings, tokens, envelopes, field values.

Asserted for every one: never a 500, always a spec code in the body (the people login: a 4xx ``detail``), and for
each send the archive row's result code equals the answer's code (looked up by the SM3 digest of the body sent).
Only a body refused unread (413: over the cap) or a throttled unauthenticated sender (429 + 2001/3004) leaves no
archive row.  Afterwards no archived message is left without a result code.

A seeded generator, not hypothesis: 10,000 cases in well under a minute, the same ones on every run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from etl.exchange import accounts, crypto, keys, tokens
from etl.exchange.client import ExchangeClient
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from store.models import Message

SPEC_CODES = {1001, 2001, 3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 9001}
CASES = int(os.environ.get("WLHY_FUZZ_CASES", "10200"))
SEED = 20261202
THREADS = 4


@pytest.fixture(scope="module")
def platform(engine, live_url):
    with Session(engine) as s:
        public = keys.ensure_current(db_session=s).public_key_hex
        op = upsert_operator(s, {"unifiedSocialCreditIdentifier": samples.PLATFORM_USCI,
                                 "name": "安徽某某网络货运有限公司", "countrySubdivisionCode": "340104"})
        issued = accounts.issue(db_session=s, operator=op, sandbox=False, user_name=f"fuzz-{uuid.uuid4().hex[:8]}",
                                one_time=False)
        user_name, account_id = issued.account.user_name, issued.account.id
        s.commit()
        secret = tokens.load_secret(s)
    client = ExchangeClient(live_url, user_name, issued.password, public)
    client.login()
    yield client, secret, account_id
    client.close()


# --- the generator ---------------------------------------------------------------------------------------------

_WEIRD_STRINGS = ["", " ", "null", "\u0000", "\ufeff", "é", "皖A12345", "\U0001F69A", "'; DROP TABLE message; --",
                  "%s%s%n", "../../etc/passwd", "\\", '"', "\u202e", "x" * 300, "9" * 40]


def _nest(rng: random.Random, depth: int, leaf: str = "1") -> str:
    kinds = [rng.random() < 0.5 for _ in range(depth)]  # True: a list, False: an object
    return ("".join("[" if k else '{"k":' for k in kinds) + leaf
            + "".join("]" if k else "}" for k in reversed(kinds)))


def _json_value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 3 or r < 0.45:
        return rng.choice([None, True, False, 0, -1, 2 ** 63, 1.5, -0.0, 1e300, rng.choice(_WEIRD_STRINGS),
                           rng.randint(-10 ** 6, 10 ** 6), "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(5))])
    if r < 0.7:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["a", "root", "header", "body", "token", "", "ü"]): _json_value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def _payload(rng: random.Random) -> dict | bytes:
    """A decrypted payload: valid, a field broken, times out of the window, or not JSON at all."""
    kind = rng.random()
    if kind < 0.12:
        return rng.choice([b"not json", b"[]", b"\xff\xfe", b"{" * 5000, _nest(rng, 200).encode(), b"NaN",
                           b'{"a": 1e400}', b'"\\ud800"', ("9" * 5000).encode(), b"\xef\xbb\xbf{}"])
    ipc = rng.choice(list(samples.SAMPLES))
    if ipc == "WLHY_WZ1001":
        doc = samples.position_batch(rng.randint(1, 40), recent=True)
        for loc in doc["locations"]:
            r = rng.random()
            if r < 0.08:
                loc["dateTime"] = rng.choice(["19700101000000", "99991231235959", "20240315100000", "2026",
                                              f"{rng.randint(2000, 2100)}0101000000", 20261202000000, None])
            elif r < 0.12:
                loc[rng.choice(["longitude", "latitude", "speed", "direction"])] = _json_value(rng)
        if rng.random() < 0.1:  # many days in one message
            for i, loc in enumerate(doc["locations"]):
                loc["dateTime"] = f"202611{(i % 28) + 1:02d}120000"
        return doc
    doc = samples.SAMPLES[ipc]()
    for _ in range(rng.randint(0, 3)):
        doc[rng.choice(list(doc))] = _json_value(rng)
    if rng.random() < 0.05:
        doc["deep"] = json.loads(_nest(rng, 20))
    return doc


class Generator:
    def __init__(self, client: ExchangeClient, secret: bytes, account_id: int):
        self.client, self.secret, self.account_id = client, secret, account_id
        self.replayable: list[bytes] = []

    def _token(self, rng: random.Random) -> object:
        good = self.client.token
        r = rng.random()
        if r < 0.55:
            return good
        b64, mac = good.rsplit(".", 1)
        return rng.choice([
            "", None, 42, ["x"], {"t": good}, good + "x", good[:-1] + "é", b64 + "." + "é" * 64,
            b64 + "." + "\U0001F600" * 10, b64 + ".00", "." * 50, "a" * 401, good.upper(),
            base64.urlsafe_b64encode(b"1.9999999999.00.g0.nobody").decode() + "." + mac,
            tokens.make_token(self.secret, account_id=self.account_id, user_name=self.client.user_name, now=0),
            tokens.make_token(self.secret, account_id=self.account_id, user_name=self.client.user_name,
                              generation=99),
            tokens.make_token(b"wrong" * 8, account_id=self.account_id, user_name=self.client.user_name),
            tokens.make_token(self.secret, account_id=10 ** 12, user_name=self.client.user_name),
            "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        ])

    def _envelope(self, rng: random.Random) -> dict:
        payload = _payload(rng)
        ipc = rng.choice(list(samples.SAMPLES))
        if isinstance(payload, dict):
            ipc = next((k for k, f in samples.SAMPLES.items() if set(f()) == set(payload) - {"deep"}), ipc)
        env = self.client.envelope(ipc, payload)
        header, body = env["root"]["header"], env["root"]["body"]
        header["token"] = self._token(rng)
        r = rng.random()
        if r < 0.15:
            header[rng.choice(list(header))] = _json_value(rng)
        elif r < 0.2:
            header[rng.choice(list(header))] = "x" * rng.choice([36, 100, 5000, 70_000])
        elif r < 0.24:
            header.pop(rng.choice(list(header)))
        elif r < 0.27:
            header["extra" + str(rng.randint(0, 9))] = json.loads(_nest(rng, rng.randint(1, 25)))
        r = rng.random()
        if r < 0.08:
            body["encryptedCode"] = rng.choice([_json_value(rng), "zz", "04" + "ab" * 96, "é" * 10,
                                                body["encryptedCode"][:-2] + "00", "0" * 20_000])
        elif r < 0.16:
            body["encryptedContent"] = rng.choice([_json_value(rng), "!!!", base64.b64encode(b"x" * 17).decode(),
                                                   body["encryptedContent"][:-4], "A" * 100_000, "é"])
        elif r < 0.19:
            _, other_public = crypto.generate_keypair()
            body["encryptedCode"], body["encryptedContent"] = crypto.seal(b"{}", other_public)
        elif r < 0.21:
            body.clear()
        return env

    def send_body(self, rng: random.Random) -> bytes:
        r = rng.random()
        if r < 0.04 and self.replayable:
            return rng.choice(self.replayable)  # a replay: same body, same reference
        if r < 0.16:  # not an envelope at all
            return rng.choice([
                b"", b"{", b"}", b"[]", b"null", b"\x00" * 10, bytes(rng.randrange(256) for _ in range(64)),
                b'{"root": {"header": {}}}', b'{"root": []}', b"\xff\xfe{\x00}\x00", b"NaN", b'{"root": 1e400}',
                ("9" * 5000).encode(), '{"root": "\ud800"}'.encode("utf-8", "surrogatepass"),
                json.dumps({"root": {"header": {}, "body": {}}}).encode("utf-16"),
                b"\xef\xbb\xbf" + json.dumps({"root": {"header": {}, "body": {}}}).encode(),
            ])
        if r < 0.26:  # deep nesting, at the top or inside the envelope
            depth = rng.choice([31, 33, 64, 500, 1200, 5000, 20_000])
            if rng.random() < 0.5:
                return _nest(rng, depth).encode()
            return ('{"root": {"header": ' + _nest(rng, depth, "{}") + ', "body": {}}}').encode()
        env = self._envelope(rng)
        raw = json.dumps(env, ensure_ascii=rng.random() < 0.3).encode()
        if rng.random() < 0.03:
            raw = raw[: rng.randrange(1, len(raw))]  # truncated
        if rng.random() < 0.02:
            raw = raw.replace(b'"token"', b'"token\\ud800"', 1)
        if len(self.replayable) < 50 and rng.random() < 0.1:
            self.replayable.append(raw)
        return raw

    def auth_body(self, rng: random.Random) -> bytes:
        r = rng.random()
        if r < 0.3:
            return rng.choice([b"", b"{", b"[]", b"null", b'{"userName": 1}', b'{"passWord": "x"}',
                               b"\xff" * 10, b'{"userName": "a", "passWord": NaN}'])
        if r < 0.55:
            return _nest(rng, rng.choice([5, 33, 1000, 3000])).encode()
        if r < 0.65:
            return json.dumps({"userName": "x" * 5000, "passWord": "y"}).encode()  # over 4 KiB
        if r < 0.93:
            return json.dumps({"userName": _json_value(rng), "passWord": _json_value(rng)}).encode()
        # real checks (argon2): a few wrong passwords of a real and of unknown accounts, and the real one
        name = rng.choice([self.client.user_name, "nobody-" + str(rng.randint(0, 3)), "é" * 70, ""])
        password = self.client.password if r > 0.99 else rng.choice(["x", "é" * 100, "\u0000", ""])
        return json.dumps({"userName": name, "passWord": password}, ensure_ascii=False).encode()

    @staticmethod
    def login_request(rng: random.Random) -> tuple[bytes, dict[str, str]]:
        r = rng.random()
        secret = "s3cret-" + uuid.uuid4().hex
        if r < 0.25:
            return _nest(rng, rng.choice([3, 5, 40, 2000])).encode(), {"content-type": "application/json"}
        if r < 0.4:
            return json.dumps({"username": "u", "password": secret * 10}).encode(), {}  # too long: a 422
        if r < 0.5:
            return b"a" * 5000, {}
        if r < 0.65:
            return f"username=&password={secret}".encode(), {"content-type": "application/x-www-form-urlencoded"}
        if r < 0.8:
            return json.dumps({"username": _json_value(rng), "password": _json_value(rng)}).encode(), {}
        return rng.choice([b"", b"{", b"\xff", b"[1]", b"NaN"]), {"content-type": "application/json"}


# --- the run ---------------------------------------------------------------------------------------------------


def _sm3(raw: bytes) -> str:
    return hashlib.new("sm3", raw).hexdigest()


def test_ten_thousand_hostile_requests(platform, live_url, engine):
    client, secret, account_id = platform
    gen = Generator(client, secret, account_id)
    rng = random.Random(SEED)
    t_gen = time.monotonic()
    cases = []
    for i in range(CASES):
        r = rng.random()
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"  # behind a trusted proxy
        if r < 0.86:
            cases.append(("send", gen.send_body(rng), {}, ip))
        elif r < 0.94:
            cases.append(("auth", gen.auth_body(rng), {}, ip))
        else:
            body, headers = gen.login_request(rng)
            cases.append(("login", body, headers, ip))
    generated_s = time.monotonic() - t_gen
    kinds = Counter(c[0] for c in cases)
    assert len(cases) >= min(CASES, 10_000) and kinds["send"] > 0.8 * len(cases)

    with Session(engine) as s:
        start_id = s.scalar(select(func.max(Message.id))) or 0
    local = threading.local()
    failures: list[str] = []
    sends: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()
    spent: Counter[str] = Counter()
    paths = {"send": "/exchange/send", "auth": "/exchange/auth", "login": "/api/v1/auth/login"}

    def run(case) -> None:
        kind, body, headers, ip = case
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = httpx.Client(base_url=live_url, timeout=30)
        t = time.monotonic()
        try:
            r = http.post(paths[kind], content=body, headers={"X-Forwarded-For": ip, **headers})
            with lock:
                spent[kind] += time.monotonic() - t
        except httpx.TransportError as e:  # an over-cap body: the server answers and closes without reading it
            with lock:
                failures.append(f"{kind} {body[:60]!r}: transport error {e!r}")
            return
        problem = None
        if r.status_code >= 500 and not (r.status_code == 503 and kind != "login"):
            problem = f"HTTP {r.status_code}"
        else:
            try:
                answer = r.json()
            except ValueError:
                answer = None
            if kind == "login":
                if r.status_code not in (401, 413, 422, 429) or not isinstance(answer, dict) or "detail" not in answer:
                    problem = f"login answered {r.status_code} {r.text[:100]}"
                elif b"s3cret-" in body and "s3cret-" in r.text:
                    problem = "login 422 echoes the password"
            elif not isinstance(answer, dict) or type(answer.get("code")) is not int or answer["code"] not in SPEC_CODES:
                problem = f"no spec code: {r.status_code} {r.text[:100]}"
            elif r.status_code == 503:
                problem = "503"
            elif kind == "send" and (r.status_code not in (413, 429) or answer["code"] == 3003):
                # archived: everything but a body over the cap and a throttled unauthenticated sender
                with lock:
                    sends[_sm3(body)].append(answer["code"])
        if problem:
            with lock:
                failures.append(f"{kind} {body[:80]!r}: {problem}")

    t0 = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, cases))
    elapsed = time.monotonic() - t0
    assert not failures, f"{len(failures)} failures, e.g. {failures[:5]}"

    with Session(engine) as s:
        rows = s.execute(select(Message.digest_sm3, Message.result_code).where(Message.id > start_id)).all()
        unfinished = s.scalar(select(func.count()).select_from(Message).where(Message.id > start_id,
                                                                              Message.result_code.is_(None)))
    archived: dict[str, list[int]] = defaultdict(list)
    for digest, code in rows:
        archived[digest].append(code)
    assert unfinished == 0
    mismatched = [(d, sorted(codes), sorted(archived.get(d, []))) for d, codes in sends.items()
                  if sorted(codes) != sorted(archived.get(d, []))]
    assert not mismatched, f"{len(mismatched)} answers differ from their archive rows, e.g. {mismatched[:5]}"
    answered = Counter(c for codes in sends.values() for c in codes)
    assert {2001, 3004, 3005}.issubset(answered) and answered[1001] > 0.02 * len(cases), answered
    print(f"\n{len(cases)} hostile requests (generated in {generated_s:.1f} s) in {elapsed:.1f} s: {dict(kinds)}; send answers {dict(answered)}; "
          f"time per kind {dict(spent)}")
    # ~65 s on a quiet 2-core machine; the bound only catches a pathological slowdown on a loaded one
    assert elapsed < 180, f"{len(cases)} cases took {elapsed:.0f} s"
