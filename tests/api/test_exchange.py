"""The platform exchange over real HTTP (uvicorn): every result code, the SM envelope, archive-first, idempotency."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from etl.exchange import accounts, crypto, keys, tokens
from etl.exchange.client import ExchangeClient
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from store.models import Anomaly, Message, Position, Waybill


@pytest.fixture(scope="module")
def province_public_key(engine):
    with Session(engine) as s:
        key = keys.ensure_current(db_session=s)
        s.commit()
        return key.public_key_hex


def _new_account(engine, *, sandbox=False, usci=None):
    with Session(engine) as s:
        op = upsert_operator(s, {"unifiedSocialCreditIdentifier": usci or samples.PLATFORM_USCI,
                                 "name": "安徽某某网络货运有限公司", "countrySubdivisionCode": "340104"})
        issued = accounts.issue(db_session=s, operator=op, sandbox=sandbox, user_name=f"acct-{uuid.uuid4().hex[:8]}",
                                one_time=False)
        s.commit()
        return issued.account.user_name, issued.password, op.id


@pytest.fixture
def account(engine):
    return _new_account(engine)


@pytest.fixture
def client(live_url, account, province_public_key):
    user, password, _ = account
    with ExchangeClient(live_url, user, password, province_public_key) as c:
        c.login()
        yield c


def post_send(http, envelope):
    return http.post("/exchange/send", content=json.dumps(envelope, ensure_ascii=False).encode())


def message(engine, message_ref):
    with Session(engine) as s:
        return s.scalars(select(Message).where(Message.message_reference_number == message_ref)
                         .order_by(Message.id)).all()


# --- auth ------------------------------------------------------------------------------------------------------


def test_auth_returns_a_numeric_code_and_a_token(http, account):
    user, password, _ = account
    r = http.post("/exchange/auth", json={"userName": user, "passWord": password})
    body = r.json()
    assert r.status_code == 200 and body["code"] == 1001 and isinstance(body["code"], int)
    assert body["msg"] == "成功" and len(body["data"]) > 20


@pytest.mark.parametrize("creds", [{"userName": "nobody", "passWord": "x"}, {"userName": 1}, "not-json"])
def test_auth_refusals_are_2001(http, creds):
    r = http.post("/exchange/auth", content=json.dumps(creds) if isinstance(creds, dict) else creds)
    assert r.json()["code"] == 2001


def test_suspended_account_cannot_log_in_and_its_token_stops_working(http, engine, client):
    with Session(engine) as s:
        accounts.suspend(db_session=s, user_name=client.user_name)
        s.commit()
    assert http.post("/exchange/auth", json={"userName": client.user_name,
                                             "passWord": client.password}).json()["code"] == 2001
    import time
    time.sleep(5.2)  # account status is cached for 5 s per process
    assert post_send(http, client.envelope("WLHY_CL1001", samples.vehicle())).json()["code"] == 2001


# --- accepted --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ipc_type,make", [
    ("WLHY_CL1001", samples.vehicle), ("WLHY_JSY1001", samples.driver), ("WLHY_YD1001", samples.waybill),
    ("WLHY_ZJ1001", samples.fund_flow), ("WLHY_WZ1001", lambda: samples.position_batch(recent=True)),
])
def test_each_type_is_accepted_through_the_envelope(client, engine, ipc_type, make):
    ref = uuid.uuid4().hex
    assert client.send(ipc_type, make(), reference=ref) == {"code": 1001, "msg": "成功"}
    (msg,) = message(engine, ref)
    assert msg.result_code == 1001 and msg.encrypted_code and msg.encrypted_content and len(msg.digest_sm3) == 64
    assert msg.body is None  # the archive keeps the ciphertext as received


@pytest.mark.parametrize("order,with_04", [("C1C3C2", True), ("C1C3C2", False), ("C1C2C3", True),
                                           ("C1C2C3", False)])
def test_both_ciphertext_orders_with_or_without_04(client, order, with_04):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    code, content = crypto.seal(json.dumps(samples.vehicle()).encode(), client.public_key_hex, order=order,
                                with_04=with_04)
    env["root"]["body"] = {"encryptedCode": code, "encryptedContent": content}
    assert client.http.post(f"{client.base_url}/exchange/send", json=env).json()["code"] == 1001


def test_replayed_reference_number_is_3001_and_processed_once(client, engine):
    ref = uuid.uuid4().hex
    wb = samples.waybill()
    wb["shippingNoteNumber"] = "YD" + uuid.uuid4().hex[:12]
    assert client.send("WLHY_YD1001", wb, reference=ref)["code"] == 1001
    assert client.send("WLHY_YD1001", wb, reference=ref)["code"] == 3001
    rows = message(engine, ref)
    assert [m.result_code for m in rows] == [1001, 3001] and rows[1].duplicate_of == rows[0].id
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Waybill)
                        .where(Waybill.shipping_note_number == wb["shippingNoteNumber"])) == 1


def test_same_document_under_a_new_reference_is_idempotent(client, engine):
    wb = samples.waybill()
    wb["shippingNoteNumber"] = "YD" + uuid.uuid4().hex[:12]
    assert client.send("WLHY_YD1001", wb)["code"] == 1001
    assert client.send("WLHY_YD1001", wb)["code"] == 1001
    with Session(engine) as s:
        row = s.scalars(select(Waybill).where(Waybill.shipping_note_number == wb["shippingNoteNumber"])).one()
        assert row.version == 1


def test_ten_thousand_fixes_in_one_message(client, engine):
    batch = samples.position_batch(10_000, recent=True)
    batch["vehicleNumber"] = "皖Z" + uuid.uuid4().hex[:5].upper()
    assert client.send("WLHY_WZ1001", batch)["code"] == 1001
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Position)
                        .where(Position.vehicle_number == batch["vehicleNumber"])) == 10_000


# --- refused ---------------------------------------------------------------------------------------------------


def _tamper_hex(h: str, index: int) -> str:
    return h[:index] + ("0" if h[index] != "0" else "1") + h[index + 1:]


def test_tampered_c3_is_3006(client, http):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    code = env["root"]["body"]["encryptedCode"]
    env["root"]["body"]["encryptedCode"] = _tamper_hex(code, 2 + 128 + 10)  # inside C3 (after 04 + C1)
    assert post_send(http, env).json()["code"] == 3006


def test_tampered_c2_is_3006(client, http):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    code = env["root"]["body"]["encryptedCode"]
    env["root"]["body"]["encryptedCode"] = _tamper_hex(code, len(code) - 3)  # inside C2 (the SM4 key)
    assert post_send(http, env).json()["code"] == 3006


def test_wrong_key_is_3006(client, http):
    _, other_public = crypto.generate_keypair()
    code, content = crypto.seal(json.dumps(samples.vehicle()).encode(), other_public)
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["body"] = {"encryptedCode": code, "encryptedContent": content}
    reply = post_send(http, env).json()
    assert reply["code"] == 3006 and "3006" not in reply["msg"]


def test_tampered_content_is_3007(client, http):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    raw = bytearray(base64.b64decode(env["root"]["body"]["encryptedContent"]))
    raw[-1] ^= 0x55  # breaks the PKCS#7 padding of the last block
    env["root"]["body"]["encryptedContent"] = base64.b64encode(bytes(raw)).decode()
    assert post_send(http, env).json()["code"] == 3007


def test_content_that_is_not_json_is_3008(client, http):
    code, content = crypto.seal(b"<xml>not json</xml>", client.public_key_hex)
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["body"] = {"encryptedCode": code, "encryptedContent": content}
    assert post_send(http, env).json()["code"] == 3008


def test_invalid_business_field_is_3005_with_errors(client):
    v = samples.vehicle()
    v["vehiclePlateColorCode"] = "7"
    reply = client.send("WLHY_CL1001", v)
    assert reply["code"] == 3005
    assert any(e["field"] == "vehiclePlateColorCode" and e["rule"] == "code" for e in reply["errors"])


def test_unknown_ipc_type_is_3002(client, http):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["header"]["ipcType"] = "WLHY_JZ1001"  # the Tianjin SDK's typo
    assert post_send(http, env).json()["code"] == 3002


@pytest.mark.parametrize("breakage", ["not json at all", "[]", '{"root": {"header": {}}}'])
def test_unparseable_envelope_is_3004_and_archived(http, engine, breakage):
    r = http.post("/exchange/send", content=breakage.encode())
    assert r.status_code == 200 and r.json()["code"] == 3004
    with Session(engine) as s:
        last = s.scalars(select(Message).order_by(Message.id.desc()).limit(1)).one()
        assert last.result_code == 3004 and last.body == breakage


def test_missing_header_field_is_3004(client, http):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["header"]["messageSendingDateTime"] = "2024-03-16 09:30"
    reply = post_send(http, env).json()
    assert reply["code"] == 3004 and "YYYYMMDDhhmmss" in reply["msg"]


def test_expired_token_is_2001(client, http, engine):
    with Session(engine) as s:
        secret = tokens.load_secret(s)
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    acct_id = tokens.read_token(secret, client.token).account_id
    env["root"]["header"]["token"] = tokens.make_token(secret, account_id=acct_id, user_name=client.user_name,
                                                       now=0)
    assert post_send(http, env).json()["code"] == 2001


def test_another_accounts_token_is_2001_and_archived_without_taking_the_reference(client, http, engine, live_url,
                                                                                 province_public_key):
    other_user, other_pw, _ = _new_account(engine)
    other = ExchangeClient(live_url, other_user, other_pw, province_public_key)
    other.login()
    ref = uuid.uuid4().hex
    env = client.envelope("WLHY_CL1001", samples.vehicle(), reference=ref)
    env["root"]["header"]["token"] = other.token
    assert post_send(http, env).json()["code"] == 2001
    # the real account can still use that reference number
    assert client.send("WLHY_CL1001", samples.vehicle(), reference=ref)["code"] == 1001
    assert [m.result_code for m in message(engine, ref)] == [2001, 1001]


def test_rate_limit_answers_429_with_3003(client, http, live_url):
    # tighten the live server's in-process limiter for the length of this test
    import tests.api.conftest as conf

    limiter = conf.LIVE_APP.state.exchange.limiter
    old = limiter.rate, limiter.burst
    limiter.rate, limiter.burst = 0.001, 2
    try:
        codes = [post_send(http, client.envelope("WLHY_CL1001", samples.vehicle())) for _ in range(4)]
    finally:
        limiter.rate, limiter.burst = old
        limiter._state.clear()
    assert [r.json()["code"] for r in codes[:2]] == [1001, 1001]
    assert codes[-1].status_code == 429 and codes[-1].json()["code"] == 3003


# --- weak envelopes --------------------------------------------------------------------------------------------


def test_published_fixed_ephemeral_key_is_accepted_but_flagged(client, engine):
    client.weak = crypto.PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX
    ref = uuid.uuid4().hex
    assert client.send("WLHY_CL1001", samples.vehicle(), reference=ref, weak=True)["code"] == 1001
    (msg,) = message(engine, ref)
    assert msg.weak_envelope and crypto.is_published_weak_c1(msg.c1_hex)
    with Session(engine) as s:
        anomaly = s.scalars(select(Anomaly).where(Anomaly.code == "SEC_WEAK_ENVELOPE",
                                                  Anomaly.document_key == f"account:{msg.account_id}")).one()
        assert anomaly.evidence["lastMessageId"] == msg.id


def test_repeated_c1_is_flagged_on_the_second_message(client, engine):
    private, _ = crypto.generate_keypair()
    client.weak = private
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    client.send("WLHY_CL1001", samples.vehicle(), reference=a, weak=True)
    client.send("WLHY_JSY1001", samples.driver(), reference=b, weak=True)
    assert not message(engine, a)[0].weak_envelope and message(engine, b)[0].weak_envelope


# --- fuzzing -----------------------------------------------------------------------------------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
                     max_leaves=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header_patch=st.dictionaries(st.sampled_from(["messageReferenceNumber", "documentName", "ipcType",
                                                     "messageSendingDateTime", "senderCode", "token"]),
                                    _json, max_size=3),
       body_patch=st.dictionaries(st.sampled_from(["encryptedCode", "encryptedContent"]), _json, max_size=2))
def test_fuzzed_envelopes_never_cause_500_or_9001(client, http, header_patch, body_patch):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["header"].update(header_patch)
    env["root"]["body"].update(body_patch)
    r = post_send(http, env)
    assert r.status_code in (200, 429) and r.json()["code"] != 9001


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(st.sampled_from(list(samples.waybill())), _json, max_size=6))
def test_fuzzed_payloads_never_cause_500_or_9001(client, payload):
    wb = samples.waybill() | payload
    reply = client.send("WLHY_YD1001", wb)
    assert reply["code"] in (1001, 3005, 3008)
