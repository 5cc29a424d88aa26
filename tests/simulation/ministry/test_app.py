"""The Ministry simulator over real HTTP: auth, result codes, idempotent receipt, faults."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from etl.exchange import crypto
from etl.forwarder.envelope import build_envelope, encode_payload, envelope_to_wire
from etl.schemas import samples
from simulation.servers.runner import MinistryAccess, serve

USER, PASSWORD = "anhui-province", "s3cret"


@pytest.fixture(scope="module")
def keys():
    return crypto.generate_keypair()


@pytest.fixture(scope="module")
def sim(keys):
    with serve("ministry", ministry=MinistryAccess(keys[0], {USER: PASSWORD}), port=0) as server:
        yield server


@pytest.fixture
def http(sim):
    sim.state.reset()
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client


@pytest.fixture
def token(http):
    return http.post("/auth", json={"userName": USER, "passWord": PASSWORD}).json()["data"]


def envelope(keys, ipc_type="WLHY_JSY1001", payload=None, *, ref=None, token="", serialisation="json"):
    payload = payload if payload is not None else samples.SAMPLES[ipc_type]()
    env = build_envelope(payload, ipc_type=ipc_type, reference_number=ref or uuid.uuid4().hex,
                         sender_code="340000", public_key_hex=keys[1], serialisation=serialisation)
    env["Root"]["Header"]["Token"] = token
    return env


def test_auth_gives_a_token_and_refuses_a_wrong_password(http):
    ok = http.post("/auth", json={"userName": USER, "passWord": PASSWORD}).json()
    assert ok["code"] == 1001 and ok["msg"] == "成功" and len(ok["data"]) == 32
    assert http.post("/auth", json={"userName": USER, "passWord": "nope"}).json()["code"] == 2001
    assert http.post("/auth", json={"userName": "other", "passWord": PASSWORD}).json()["code"] == 2001


@pytest.mark.parametrize("ipc_type", list(samples.SAMPLES))
def test_each_type_is_decrypted_validated_and_stored(http, keys, token, ipc_type):
    env = envelope(keys, ipc_type, token=token)
    assert http.post("/send", json=env).json() == {"code": 1001, "msg": "成功"}
    got = http.get("/admin/received").json()
    assert got["counts"] == {ipc_type: 1}
    ref = env["Root"]["Header"]["MessageReferenceNumber"]
    one = http.get(f"/admin/received/{ref}").json()
    assert one["payload"] == samples.SAMPLES[ipc_type]() and "Token" not in one["header"]


def test_xml_envelope_and_payload_are_accepted(http, keys, token):
    env = envelope(keys, "WLHY_WZ1001", token=token, serialisation="xml")
    body, content_type = envelope_to_wire(env, "xml")
    assert body.startswith(b"<Root><Header><MessageReferenceNumber>")
    assert http.post("/send", content=body, headers={"Content-Type": content_type}).json()["code"] == 1001
    one = http.get(f"/admin/received/{env['Root']['Header']['MessageReferenceNumber']}").json()
    assert one["payload"]["locations"][2]["longitude"] == pytest.approx(120.97642)


def test_wrong_or_missing_token_answers_2001_and_stores_nothing(http, keys, token):
    assert http.post("/send", json=envelope(keys, token="0" * 32)).json()["code"] == 2001
    assert http.post("/send", json=envelope(keys, token="")).json()["code"] == 3004  # header field missing
    assert http.get("/admin/received").json()["total"] == 0


def test_tampered_encrypted_code_answers_3006(http, keys, token):
    env = envelope(keys, token=token)
    code = env["Root"]["Body"]["EncryptedCode"]  # "04" + C1 (128 hex) + C3 (64 hex) + C2 (32 hex)
    in_c3 = "f" if code[140] != "f" else "e"
    env["Root"]["Body"]["EncryptedCode"] = code[:140] + in_c3 + code[141:]
    assert http.post("/send", json=env).json()["code"] == 3006
    env["Root"]["Body"]["EncryptedCode"] = code[:-1] + ("0" if code[-1] != "0" else "1")  # in C2: C3 fails
    assert http.post("/send", json=env).json()["code"] == 3006
    env["Root"]["Body"]["EncryptedCode"] = "zz" + code[2:]
    assert http.post("/send", json=env).json()["code"] == 3006


def test_tampered_encrypted_content_answers_3007(http, keys, token):
    env = envelope(keys, token=token)
    env["Root"]["Body"]["EncryptedContent"] = "AAAAAAAAAAAAAAAAAAAA"  # 15 bytes: not whole SM4 blocks
    assert http.post("/send", json=env).json()["code"] == 3007
    env["Root"]["Body"]["EncryptedContent"] = "%%% not base64 %%%"
    assert http.post("/send", json=env).json()["code"] == 3007


def test_invalid_payload_answers_3005_with_field_errors(http, keys, token):
    bad = samples.driver()
    bad["drivingLicense"] = "123"
    answer = http.post("/send", json=envelope(keys, "WLHY_JSY1001", bad, token=token)).json()
    assert answer["code"] == 3005
    assert "drivingLicense" in [e["field"] for e in answer["errors"]]
    assert http.get("/admin/received").json()["total"] == 0


def test_content_that_is_not_json_answers_3008(http, keys, token):
    env = envelope(keys, token=token)
    code, content = crypto.seal(b"<not json>", keys[1])
    env["Root"]["Body"] = {"EncryptedCode": code, "EncryptedContent": content}
    assert http.post("/send", json=env).json()["code"] == 3008


def test_header_problems_answer_3002_or_3004(http, keys, token):
    env = envelope(keys, token=token)
    env["Root"]["Header"]["DocumentName"] = "驾驶员基本信息上传"  # the provincial name, not the Ministry's
    assert http.post("/send", json=env).json()["code"] == 3002
    env["Root"]["Header"]["IPCType"] = "WLHY_XX9999"
    assert http.post("/send", json=env).json()["code"] == 3002
    del env["Root"]["Header"]["MessageReferenceNumber"]
    assert http.post("/send", json=env).json()["code"] == 3004
    garbage = http.post("/send", content=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.json()["code"] == 3004


def test_replayed_reference_is_acknowledged_again_but_stored_once(http, keys, token):
    ref = uuid.uuid4().hex
    first = envelope(keys, "WLHY_CL1001", ref=ref, token=token)
    again = envelope(keys, "WLHY_CL1001", ref=ref, token=token)  # re-encrypted, as a retry would be
    assert http.post("/send", json=first).json()["code"] == 1001
    assert http.post("/send", json=again).json()["code"] == 1001
    got = http.get("/admin/received").json()
    assert got["counts"] == {"WLHY_CL1001": 1} and got["repeats"] == 1
    assert http.get(f"/admin/received/{ref}").json()["deliveries"] == 2


def test_fault_down_answers_503_until_switched_back(http, keys, token):
    assert http.post("/admin/faults", json={"mode": "down"}).status_code == 200
    assert http.get("/admin/faults").json()["mode"] == "down"
    assert http.post("/auth", json={"userName": USER, "passWord": PASSWORD}).status_code == 503
    assert http.post("/send", json=envelope(keys, token=token)).status_code == 503
    http.post("/admin/faults", json={"mode": "ok"})
    assert http.post("/send", json=envelope(keys, token=token)).json()["code"] == 1001


def test_fault_error_answers_the_code_and_can_be_limited(http, keys, token):
    http.post("/admin/faults", json={"mode": "error", "code": 3003, "remaining": 2})
    codes = [http.post("/send", json=envelope(keys, token=token)).json()["code"] for _ in range(3)]
    assert codes == [3003, 3003, 1001]
    assert http.get("/admin/faults").json()["mode"] == "ok"
    assert http.get("/admin/received").json()["total"] == 1


def test_fault_slow_delays_the_answer(http, keys, token):
    http.post("/admin/faults", json={"mode": "slow", "delay_s": 0.3})
    t0 = time.monotonic()
    assert http.post("/send", json=envelope(keys, token=token)).json()["code"] == 1001
    assert time.monotonic() - t0 >= 0.3


def test_expired_token_answers_2001(keys):
    with serve("ministry", ministry=MinistryAccess(keys[0], {USER: PASSWORD}, token_ttl_s=0.2), port=0) as server, \
            httpx.Client(base_url=server.url, timeout=10) as http:
        tok = http.post("/auth", json={"userName": USER, "passWord": PASSWORD}).json()["data"]
        assert http.post("/send", json=envelope(keys, token=tok)).json()["code"] == 1001
        time.sleep(0.3)
        assert http.post("/send", json=envelope(keys, token=tok)).json()["code"] == 2001


def test_encode_payload_json_keeps_wire_keys():
    assert json.loads(encode_payload(samples.waybill())) == samples.waybill()
