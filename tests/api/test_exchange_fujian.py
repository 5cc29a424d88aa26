"""What the public Fujian platform client taught us, over real HTTP: list fields sent as objects, ``msg`` naming the
field, weak SM2 envelopes told in every answer and raised once per account, header clocks far off, 3006 texts."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import beijing
from etl.exchange import crypto, keys
from etl.exchange.client import ExchangeClient
from etl.schemas import samples
from store.models import Anomaly, Message, Waybill, WaybillVehicle
from tests.api.test_exchange import _new_account, message, post_send


@pytest.fixture(scope="module")
def province_public_key(engine):
    with Session(engine) as s:
        key = keys.ensure_current(db_session=s)
        s.commit()
        return key.public_key_hex


@pytest.fixture
def client(live_url, engine, province_public_key):
    user, password, _ = _new_account(engine)  # an account of its own per test: anomalies are per account
    with ExchangeClient(live_url, user, password, province_public_key) as c:
        c.login()
        yield c


def _anomalies(engine, code: str, key: str) -> list[Anomaly]:
    with Session(engine) as s:
        return s.scalars(select(Anomaly).where(Anomaly.code == code, Anomaly.document_key == key)).all()


def _account_id(engine, user_name: str) -> int:
    with Session(engine) as s:
        return s.scalars(select(Message.account_id).where(Message.user_name == user_name,
                                                          Message.account_id.is_not(None)).limit(1)).one()


# --- list fields sent as one object -----------------------------------------------------------------------------


def test_vehicle_info_sent_as_an_object_is_accepted_as_one_vehicle_with_a_warning(client, engine):
    wb = samples.waybill()
    wb["shippingNoteNumber"] = "YD" + uuid.uuid4().hex[:12]
    wb["vehicleInfo"] = wb["vehicleInfo"][0]  # what the Fujian client sends
    reply = client.send("WLHY_YD1001", wb)
    assert reply["code"] == 1001
    assert "vehicleInfo" in reply["msg"] and "one-element list" in reply["msg"] and "警告" in reply["msg"]
    with Session(engine) as s:
        row = s.scalars(select(Waybill).where(Waybill.shipping_note_number == wb["shippingNoteNumber"])).one()
        assert len(s.scalars(select(WaybillVehicle).where(WaybillVehicle.waybill_id == row.id)).all()) == 1


def test_vehicle_info_as_a_list_answers_plain_success(client):
    wb = samples.waybill()
    wb["shippingNoteNumber"] = "YD" + uuid.uuid4().hex[:12]
    assert client.send("WLHY_YD1001", wb) == {"code": 1001, "msg": "成功"}


def test_fund_flow_payment_list_sent_as_an_object_is_accepted_with_a_warning(client):
    ff = samples.fund_flow()
    ff["documentNumber"] = "ZJ" + uuid.uuid4().hex[:12]
    ff["financiallist"] = ff["financiallist"][0]
    reply = client.send("WLHY_ZJ1001", ff)
    assert reply["code"] == 1001 and "financiallist" in reply["msg"]


# --- msg names the field -----------------------------------------------------------------------------------------


def test_3005_msg_names_the_field_path_and_reason(client):
    wb = samples.waybill()
    del wb["vehicleInfo"][0]["vehicleNumber"]
    reply = client.send("WLHY_YD1001", wb)
    assert reply["code"] == 3005
    assert "vehicleInfo[0].vehicleNumber" in reply["msg"] and "is required" in reply["msg"]
    assert any(e["field"] == "vehicleInfo[0].vehicleNumber" for e in reply["errors"])


def test_3004_msg_names_the_missing_header_field(client, http):
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    del env["root"]["header"]["documentName"]
    reply = post_send(http, env).json()
    assert reply["code"] == 3004 and "header.documentName: is required" in reply["msg"]


# --- weak envelopes --------------------------------------------------------------------------------------------


def test_published_ephemeral_key_answers_1001_with_a_warning_and_one_anomaly_per_account(client, engine):
    client.weak = crypto.PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX
    refs = [uuid.uuid4().hex for _ in range(3)]
    replies = [client.send("WLHY_CL1001", samples.vehicle(), reference=r, weak=True) for r in refs]
    assert all(r["code"] == 1001 and "weak SM2 envelope" in r["msg"] and "random" in r["msg"] for r in replies)
    assert all(message(engine, r)[0].weak_envelope for r in refs)
    account_id = _account_id(engine, client.user_name)
    (anomaly,) = _anomalies(engine, "SEC_WEAK_ENVELOPE", f"account:{account_id}")  # de-duplicated per account
    assert anomaly.evidence["lastMessageId"] == message(engine, refs[-1])[0].id and anomaly.evidence["published"]
    assert "random" in anomaly.reason_en and "随机" in anomaly.reason_zh  # the operator sees how to fix it


def test_random_ephemeral_keys_answer_plain_success_and_raise_nothing(client, engine):
    replies = [client.send("WLHY_CL1001", samples.vehicle()) for _ in range(2)]
    assert replies == [{"code": 1001, "msg": "成功"}] * 2
    assert not _anomalies(engine, "SEC_WEAK_ENVELOPE", f"account:{_account_id(engine, client.user_name)}")


def test_3006_carrying_the_published_point_is_flagged(client, http, engine):
    code, content = crypto.seal(json.dumps(samples.vehicle()).encode(), client.public_key_hex,
                                ephemeral_private_hex=crypto.PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX)
    code = code[:-3] + ("0" if code[-3] != "0" else "1") + code[-2:]  # break C2: cannot be opened
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["body"] = {"encryptedCode": code, "encryptedContent": content}
    reply = post_send(http, env).json()
    assert reply["code"] == 3006 and "weak SM2 envelope" in reply["msg"]
    (msg,) = message(engine, env["root"]["header"]["messageReferenceNumber"])
    assert msg.weak_envelope and crypto.is_published_weak_c1(msg.c1_hex)
    assert _anomalies(engine, "SEC_WEAK_ENVELOPE", f"account:{msg.account_id}")


def test_3004_carrying_the_published_point_is_flagged_and_an_ordinary_3004_is_not(client, http, engine):
    weak_code, content = crypto.seal(b"{}", client.public_key_hex,
                                     ephemeral_private_hex=crypto.PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX)
    for body_code, flagged in ((weak_code, True), (crypto.seal(b"{}", client.public_key_hex)[0], False)):
        env = client.envelope("WLHY_CL1001", samples.vehicle())
        env["root"]["body"] = {"encryptedCode": body_code, "encryptedContent": content}
        env["root"]["header"]["messageSendingDateTime"] = "yesterday"
        reply = post_send(http, env).json()
        assert reply["code"] == 3004 and ("weak SM2 envelope" in reply["msg"]) is flagged
        assert message(engine, env["root"]["header"]["messageReferenceNumber"])[0].weak_envelope is flagged


def test_3006_does_not_tell_how_many_province_keys_exist(client, http):
    _, other_public = crypto.generate_keypair()
    code, content = crypto.seal(json.dumps(samples.vehicle()).encode(), other_public)
    env = client.envelope("WLHY_CL1001", samples.vehicle())
    env["root"]["body"] = {"encryptedCode": code, "encryptedContent": content}
    reply = post_send(http, env).json()
    assert reply["code"] == 3006
    assert not re.search(r"\d", reply["msg"]) and "keys" not in reply["msg"] and "any of" not in reply["msg"]


# --- header clock ------------------------------------------------------------------------------------------------


def test_header_time_8_hours_off_is_flagged_and_stored_as_sent(live_url, engine, province_public_key):
    user, password, _ = _new_account(engine)
    with ExchangeClient(live_url, user, password, province_public_key) as c:
        c.login()
        env = c.envelope("WLHY_CL1001", samples.vehicle())
        utc_text = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")  # a client on UTC
        env["root"]["header"]["messageSendingDateTime"] = utc_text
        reply = c.http.post(f"{live_url}/exchange/send", json=env).json()
        clean = c.send("WLHY_CL1001", samples.vehicle())
    assert reply["code"] == 1001 and "-8.0 h from our clock" in reply["msg"] and "UTC" in reply["msg"]
    assert clean == {"code": 1001, "msg": "成功"}
    (msg,) = message(engine, env["root"]["header"]["messageReferenceNumber"])
    assert msg.sent_at_text == utc_text  # stored as sent
    (anomaly,) = _anomalies(engine, "INTAKE_TIME_ORDER", f"clock:account:{msg.account_id}")
    assert abs(anomaly.evidence["skewSeconds"] + beijing.OFFSET_S) < 120 and anomaly.evidence["looksLikeUtc"]
    assert anomaly.evidence["lastMessageId"] == msg.id


def test_header_time_within_tolerance_raises_nothing(live_url, engine, province_public_key):
    user, password, _ = _new_account(engine)
    with ExchangeClient(live_url, user, password, province_public_key) as c:
        c.login()
        env = c.envelope("WLHY_CL1001", samples.vehicle())
        env["root"]["header"]["messageSendingDateTime"] = beijing.wire_datetime(
            beijing.now() - dt.timedelta(minutes=5))
        assert c.http.post(f"{live_url}/exchange/send", json=env).json() == {"code": 1001, "msg": "成功"}
    (msg,) = message(engine, env["root"]["header"]["messageReferenceNumber"])
    assert not _anomalies(engine, "INTAKE_TIME_ORDER", f"clock:account:{msg.account_id}")


def test_joint_test_report_names_the_weak_envelope_and_how_to_fix_it(live_url, engine, province_public_key):
    from etl.exchange import onboarding

    user, password, _ = _new_account(engine, sandbox=True)
    with Session(engine) as s:
        jt = onboarding.open_joint_test(s, user_name=user)
        s.commit()
        jt_id = jt.id
    with ExchangeClient(live_url, user, password, province_public_key,
                        weak_c1_private_hex=crypto.PUBLISHED_WEAK_EPHEMERAL_PRIVATE_HEX) as c:
        c.login()
        reply = c.send("WLHY_CL1001", samples.vehicle(), weak=True)
        assert reply["code"] == 1001 and "weak SM2 envelope" in reply["msg"]  # told even on the test channel
        assert c.send("WLHY_JSY1001", samples.driver())["msg"] == "成功"
    with Session(engine) as s:
        weak = onboarding.joint_test_report(s, jt_id)["weakEnvelopes"]
        assert not _anomalies(engine, "SEC_WEAK_ENVELOPE", f"account:{_account_id(engine, user)}")  # sandbox
    assert weak["count"] == 1 and "published" in weak["examples"][0]["why"]
    assert "random" in weak["howToFix"] and "随机" in weak["howToFix"]
