"""Hostile input and login hardening over real HTTP: body caps, JSON depth, position time window, bounded archive of
unauthenticated sends, per-address and per-account throttles, token generations, one-time passwords."""

from __future__ import annotations

import json
import random
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth import service as auth_service
from etl.exchange import accounts, keys, onboarding, tokens
from etl.exchange.client import ExchangeClient
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from store.models import AuditLog, JointTest, Message


def _ip() -> str:
    return f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}"  # uvicorn trusts X-Forwarded-For from 127.0.0.1


@pytest.fixture(scope="module")
def public_key(engine):
    with Session(engine) as s:
        key = keys.ensure_current(db_session=s).public_key_hex
        s.commit()
        return key


def _account(engine, *, sandbox=False, one_time=False):
    with Session(engine) as s:
        op = upsert_operator(s, {"unifiedSocialCreditIdentifier": samples.PLATFORM_USCI,
                                 "name": "安徽某某网络货运有限公司", "countrySubdivisionCode": "340104"})
        issued = accounts.issue(db_session=s, operator=op, sandbox=sandbox, user_name=f"h-{uuid.uuid4().hex[:8]}",
                                one_time=one_time)
        out = issued.account.user_name, issued.password, op.id, issued.account.id
        s.commit()
        return out


@pytest.fixture
def client(engine, live_url, public_key):
    user, password, _, _ = _account(engine)
    with ExchangeClient(live_url, user, password, public_key) as c:
        c.login()
        yield c


def _send(http, env, ip=None):
    return http.post("/exchange/send", content=json.dumps(env, ensure_ascii=False).encode(),
                     headers={"X-Forwarded-For": ip or _ip()})


# --- caps and depth --------------------------------------------------------------------------------------------


def test_auth_body_over_4_kib_is_refused_unread(http):
    r = http.post("/exchange/auth", content=json.dumps({"userName": "x" * 5000, "passWord": "y"}).encode())
    assert r.status_code == 413 and r.json()["code"] == 2001


def test_send_body_over_the_cap_is_refused_while_streaming(live_url):
    def chunks():  # no Content-Length: the server must stop reading at the cap
        for _ in range(20):
            yield b"x" * (1024 * 1024)
    with httpx.Client(base_url=live_url, timeout=30) as h:
        r = h.post("/exchange/send", content=chunks())
    assert r.status_code == 413 and r.json()["code"] == 3004


def test_declared_length_over_the_cap_is_refused(http):
    r = http.post("/exchange/send", content=b" " * (16 * 1024 * 1024 + 1))
    assert r.status_code == 413 and r.json()["code"] == 3004


@pytest.mark.parametrize("depth", [33, 2_000, 100_000])
def test_deep_json_is_a_spec_code_never_500(http, engine, depth):
    deep = ("[" * depth + "]" * depth).encode()
    assert http.post("/exchange/auth", content=deep).json()["code"] == 2001
    r = http.post("/exchange/send", content=deep, headers={"X-Forwarded-For": _ip()})
    assert r.status_code == 200 and r.json()["code"] == 3004
    with Session(engine) as s:
        last = s.scalars(select(Message).order_by(Message.id.desc()).limit(1)).one()
    assert last.result_code == 3004 and len(last.body) <= 4096
    login = http.post("/api/v1/auth/login", content=deep[:4000], headers={"content-type": "application/json"})
    assert login.status_code == 422


def test_deep_payload_inside_the_envelope_is_3008(client, http):
    env = client.envelope("WLHY_CL1001", ("[" * 5000 + "]" * 5000).encode())
    assert _send(http, env).json()["code"] == 3008


def test_people_login_caps_and_never_echoes_the_password(http):
    secret = "S3cret-" + uuid.uuid4().hex
    r = http.post("/api/v1/auth/login", json={"username": "u", "password": secret * 10})  # > 256 characters
    assert r.status_code == 422 and secret not in r.text
    assert http.post("/api/v1/auth/login", content=b"a" * 5000).status_code == 413
    form = http.post("/api/v1/auth/login", content=f"username=&password={secret}".encode(),
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422 and secret not in form.text


# --- tokens ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mangle", [lambda t: t[:-1] + "é", lambda t: t.rsplit(".", 1)[0] + "." + "\U0001F600" * 8,
                                    lambda t: "é" + t, lambda t: t + "." + "x"])
def test_non_ascii_or_malformed_signature_is_2001(client, http, mangle):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["header"]["token"] = mangle(client.token)
    r = _send(http, env)
    assert r.status_code == 200 and r.json()["code"] == 2001


def test_tokens_die_with_suspend_reset_and_password_change(client, http, engine):
    import time
    old = client.token
    with Session(engine) as s:
        accounts.suspend(db_session=s, user_name=client.user_name)
        issued = accounts.reset(db_session=s, user_name=client.user_name, one_time=False)
        s.commit()
    time.sleep(5.2)  # account rows are cached 5 s per process
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["header"]["token"] = old
    reply = _send(http, env).json()
    assert reply["code"] == 2001 and "revoked" in reply["msg"]
    client.password = issued.password
    assert client.send("WLHY_CL1001", samples.vehicle())["code"] == 1001  # logs in again


# --- unauthenticated senders -----------------------------------------------------------------------------------


def test_unauthenticated_send_archives_only_a_bounded_prefix(client, http, engine):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["header"]["token"] = "forged"
    env["root"]["body"]["encryptedContent"] = "A" * 200_000
    ref = env["root"]["header"]["messageReferenceNumber"]
    assert _send(http, env).json()["code"] == 2001
    with Session(engine) as s:
        (msg,) = s.scalars(select(Message).where(Message.message_reference_number == ref)).all()
        assert msg.result_code == 2001 and msg.user_name is None and len(msg.digest_sm3) == 64
        assert len(msg.encrypted_code or "") + len(msg.encrypted_content or "") <= 4096
        assert s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "exchange_send_refused", AuditLog.target == f"message:{msg.id}")) == 1


def test_bad_token_sends_are_throttled_per_address(client, http):
    ip = _ip()
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["header"]["token"] = "forged"
    codes = [_send(http, env, ip) for _ in range(53)]
    assert all(r.json()["code"] == 2001 for r in codes)
    assert codes[-1].status_code == 429 and int(codes[-1].headers["Retry-After"]) >= 1
    assert _send(http, env, _ip()).status_code == 200  # another address is not held up
    assert client.send("WLHY_CL1001", samples.vehicle())["code"] == 1001  # nor a genuine token


def test_failed_exchange_logins_are_audited_and_throttled_per_account_existing_or_not(http, engine):
    for name in (f"ghost-{uuid.uuid4().hex[:6]}", _account(engine)[0]):
        answers = [http.post("/exchange/auth", json={"userName": name, "passWord": "wrong"},
                             headers={"X-Forwarded-For": _ip()}) for _ in range(7)]
        assert all(r.json()["code"] == 2001 for r in answers)
        assert answers[-1].status_code == 429, [r.status_code for r in answers]
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(AuditLog).where(
                AuditLog.action == "exchange_login_failed", AuditLog.username == name,
                AuditLog.outcome == "refused")) >= 5


# --- 3006 and the position window ------------------------------------------------------------------------------


def test_3006_does_not_count_province_keys(client, http):
    from etl.exchange import crypto
    _, other = crypto.generate_keypair()
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["body"]["encryptedCode"], env["root"]["body"]["encryptedContent"] = crypto.seal(b"{}", other)
    reply = _send(http, env).json()
    assert reply["code"] == 3006 and "no usable province key" in reply["msg"]
    assert not any(ch.isdigit() for ch in reply["msg"].split(":", 1)[-1])


def test_fix_outside_the_window_is_3005_naming_field_and_window(client):
    batch = samples.position_batch(3, recent=True)
    batch["locations"][1]["dateTime"] = "20240315100000"
    reply = client.send("WLHY_WZ1001", batch)
    assert reply["code"] == 3005
    (err,) = reply["errors"]
    assert err["field"] == "locations[1].dateTime" and err["rule"] == "range" and "30 days" in err["message"]


def test_too_many_days_in_one_message_is_3005(client, engine):
    import datetime as dt
    batch = samples.position_batch(5, recent=True)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    for i, loc in enumerate(batch["locations"]):
        loc["dateTime"] = (today - dt.timedelta(days=i + 1)).strftime("%Y%m%d%H%M%S")
    reply = client.send("WLHY_WZ1001", batch)
    assert reply["code"] == 3005 and reply["errors"][0]["field"] == "locations"
    assert "Beijing days" in reply["errors"][0]["message"]


# --- one-time passwords ----------------------------------------------------------------------------------------


def _operator_token(http, engine, operator_id):
    username, password = f"op-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with Session(engine) as s:
        auth_service.create(db_session=s, username=username, password=password, role="operator",
                            operator_id=operator_id)
        s.commit()
    token = http.post("/api/v1/auth/login", json={"username": username, "password": password}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_one_time_password_works_on_the_test_channel_only_until_the_platform_sets_its_own(http, engine):
    user, one_time, operator_id, _ = _account(engine, one_time=True)  # production, one-time password
    refused = http.post("/exchange/auth", json={"userName": user, "passWord": one_time}).json()
    assert refused["code"] == 2001 and "one-time" in refused["msg"]
    sandbox_user, sandbox_pw, _, _ = _account(engine, sandbox=True, one_time=True)
    assert http.post("/exchange/auth", json={"userName": sandbox_user, "passWord": sandbox_pw}).json()["code"] == 1001

    staff = _operator_token(http, engine, operator_id)
    path = f"/api/v1/exchange/accounts/{user}/password"
    weak = http.post(path, headers=staff, json={"newPassword": "password"})
    assert weak.status_code == 422 and "password" not in json.dumps(weak.json()).replace("newPassword", "")
    wrong_old = http.post(path, headers=staff, json={"oldPassword": "nope", "newPassword": "Str0ng-Enough-1"})
    assert wrong_old.status_code == 422
    with Session(engine) as s:  # both refusals outlive their rolled-back requests, reason named, no password
        rows = s.execute(select(AuditLog.outcome, AuditLog.detail).where(
            AuditLog.action == "account_password_change").order_by(AuditLog.id)).all()
    assert [(o, d["reason"]) for o, d in rows][-2:] == [
        ("refused", "new password breaks the password rule"), ("refused", "old password wrong")]
    assert "nope" not in json.dumps([d for _, d in rows]) and "Str0ng" not in json.dumps([d for _, d in rows])
    ok = http.post(path, headers=staff, json={"oldPassword": one_time, "newPassword": "Str0ng-Enough-1"})
    assert ok.status_code == 200 and ok.json() == {"userName": user, "mustChangePassword": False,
                                                   "mode": "production"}
    assert http.post("/exchange/auth", json={"userName": user, "passWord": "Str0ng-Enough-1"}).json()["code"] == 1001
    assert http.post("/exchange/auth", json={"userName": user, "passWord": one_time}).json()["code"] == 2001

    with Session(engine) as s:  # another platform's account: as if it did not exist
        other = upsert_operator(s, {"unifiedSocialCreditIdentifier": "91340100MA2TEST00X", "name": "别家平台"})
        someone_else = accounts.issue(db_session=s, operator=other, user_name=f"h-{uuid.uuid4().hex[:8]}",
                                      one_time=True).account.user_name
        s.commit()
    assert http.post(f"/api/v1/exchange/accounts/{someone_else}/password", headers=staff,
                     json={"newPassword": "Str0ng-Enough-2"}).status_code == 404


def test_promotion_refused_while_the_one_time_password_stands(engine):
    _, _, _, account_id = _account(engine, sandbox=True, one_time=True)
    with Session(engine) as s:
        jt = JointTest(account_id=account_id)
        s.add(jt)
        s.flush()
        with pytest.raises(accounts.AccountError, match="one-time password"):
            onboarding.promote(s, jt.id, force=False)
        s.rollback()


def test_token_payload_round_trip_carries_the_generation():
    secret = b"k" * 32
    t = tokens.make_token(secret, account_id=7, user_name="a.b.c", generation=3)
    claims = tokens.read_token(secret, t)
    assert (claims.account_id, claims.user_name, claims.generation) == (7, "a.b.c", 3)
    assert tokens.read_token(secret, t[:-2] + "é") is None
