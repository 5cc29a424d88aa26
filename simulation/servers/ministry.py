"""A local Ministry exchange (spec/EXCHANGE.md §4): auth, send with acknowledgements, switchable faults.

It decrypts with its own SM2 private key, validates with the same schemas as our intake, de-duplicates by
``MessageReferenceNumber`` (a repeat answers 1001 again and is stored once) and keeps what it received in
memory, visible at ``GET /admin/received``.  ``POST /admin/faults`` makes it go down (HTTP 503), answer
slowly, or answer an error code, so the forwarder's retry and back-off can be exercised.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from etl.exchange.crypto import CryptoError, EnvelopeContentError, open_envelope
from etl.forwarder.envelope import HEADER_FIELDS, decode_payload, envelope_from_wire
from etl.schemas import IPC_TYPES, PayloadShapeError, validate_payload

__all__ = ["FaultsIn", "MinistryState", "create_app"]

MESSAGES = {
    1001: "成功", 2001: "token认证失败", 3002: "IPCType错误", 3003: "发送消息队列失败",
    3004: "交换报文解析错误", 3005: "字段校验失败", 3006: "对称密钥解密失败", 3007: "业务报文解密错误",
    3008: "业务报文解析错误", 9001: "服务器内部错误",
}
_REQUIRED_HEADER = tuple(f for f in HEADER_FIELDS if f != "DocumentVersionNumber")


class FaultsIn(BaseModel):
    """A fault: ``ok`` (none), ``down`` (HTTP 503), ``slow`` (sleep ``delay_s``), ``error`` (answer ``code``).

    ``remaining`` limits the fault to that many ``/send`` requests, after which the simulator is ``ok`` again.
    """

    mode: Literal["ok", "down", "slow", "error"] = "ok"
    delay_s: float = Field(0.0, ge=0, le=120)
    code: int = 9001
    remaining: int | None = Field(None, ge=1)


@dataclass
class MinistryState:
    """Everything the simulator remembers; guarded by ``lock`` (requests run concurrently)."""

    private_key_hex: str
    accounts: dict[str, str]
    token_ttl_s: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (user, expires monotonic)
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # IPCType -> receipts in order
    by_ref: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: FaultsIn = field(default_factory=FaultsIn)
    in_flight: dict[str, int] = field(default_factory=dict)  # ref -> sends of it being handled right now
    concurrent_sends: int = 0  # a ref sent again while its first send was still in flight
    repeats: int = 0  # deliveries of an already stored ref (answered 1001, not stored again)
    requests: int = 0
    answers: dict[int, int] = field(default_factory=dict)  # result code -> count

    def reset(self) -> None:
        """Forget what was received and switch faults off (tokens stay valid)."""
        with self.lock:
            self.received.clear()
            self.by_ref.clear()
            self.in_flight.clear()
            self.faults = FaultsIn()
            self.concurrent_sends = self.repeats = self.requests = 0
            self.answers.clear()


def create_app(private_key_hex: str, *, accounts: dict[str, str], token_ttl_s: float = 7200.0) -> FastAPI:
    """The Ministry simulator as a FastAPI app.

    Parameters
    ----------
    private_key_hex : str
        The Ministry's SM2 private key (the forwarder seals under its public key).
    accounts : dict
        ``userName -> passWord`` of the provinces allowed to log in.
    token_ttl_s : float, default 7200
        Token lifetime (2 hours, as on the exchange).
    """
    state = MinistryState(private_key_hex=private_key_hex, accounts=dict(accounts), token_ttl_s=token_ttl_s)
    app = FastAPI(title="Ministry exchange simulator")
    app.state.ministry = state

    @app.post("/auth")
    async def auth(request: Request):
        fault, delay_s = _fault(state, count=False)
        if fault is not None:
            return fault
        await asyncio.sleep(delay_s)
        try:
            body = await request.json()
        except ValueError:
            body = None
        user = body.get("userName") if isinstance(body, dict) else None
        if not user or state.accounts.get(user) is None or state.accounts[user] != body.get("passWord"):
            return _answer(state, 2001, msg="用户名或密码错误")
        token = secrets.token_hex(16)
        with state.lock:
            state.tokens[token] = (user, time.monotonic() + state.token_ttl_s)
        return {"code": 1001, "msg": MESSAGES[1001], "data": token}

    @app.post("/send")
    async def send(request: Request):
        with state.lock:
            state.requests += 1
        fault, delay_s = _fault(state, count=True)
        if fault is not None:
            return fault
        try:
            env = envelope_from_wire(await request.body(), request.headers.get("content-type", ""))
        except ValueError:
            return _answer(state, 3004)
        header, body = env["Root"]["Header"], env["Root"]["Body"]
        missing = [f for f in _REQUIRED_HEADER if not isinstance(header.get(f), str) or not header.get(f)]
        missing += [f for f in ("EncryptedCode", "EncryptedContent") if not isinstance(body.get(f), str)]
        if missing:
            return _answer(state, 3004, msg=f"{MESSAGES[3004]}: {', '.join(missing)}")
        if not _token_ok(state, header["Token"]):
            return _answer(state, 2001)
        spec = IPC_TYPES.get(header["IPCType"])
        if spec is None or header["DocumentName"] != spec.ministry_document_name:
            return _answer(state, 3002)
        ref = header["MessageReferenceNumber"]
        with state.lock:
            if ref in state.by_ref:  # at-least-once delivery: a repeat is acknowledged, never stored twice
                state.by_ref[ref]["deliveries"] += 1
                state.repeats += 1
                return _answer_locked(state, 1001)
            state.in_flight[ref] = state.in_flight.get(ref, 0) + 1
            if state.in_flight[ref] > 1:
                state.concurrent_sends += 1
        try:
            await asyncio.sleep(delay_s)  # slow while in flight, so overlapping sends of one ref show up
            xml = "xml" in request.headers.get("content-type", "")
            return _receive(state, header, body, "xml" if xml else "json")
        finally:
            with state.lock:
                state.in_flight[ref] -= 1

    @app.get("/admin/received")
    def received():
        with state.lock:
            return {
                "counts": {t: len(v) for t, v in state.received.items()},
                "refs": {t: [r["ref"] for r in v] for t, v in state.received.items()},
                "total": len(state.by_ref),
                "repeats": state.repeats,
                "concurrentSends": state.concurrent_sends,
                "requests": state.requests,
                "answers": {str(k): v for k, v in state.answers.items()},
            }

    @app.get("/admin/received/{ref}")
    def received_one(ref: str):
        with state.lock:
            item = state.by_ref.get(ref)
            if item is None:
                return JSONResponse({"detail": "not received"}, status_code=404)
            return dict(item)

    @app.post("/admin/faults")
    def set_faults(faults: FaultsIn):
        with state.lock:
            state.faults = faults
        return faults.model_dump()

    @app.get("/admin/faults")
    def get_faults():
        with state.lock:
            return state.faults.model_dump()

    @app.post("/admin/reset")
    def reset():
        state.reset()
        return {"ok": True}

    return app


def _receive(state: MinistryState, header: dict[str, str], body: dict[str, str], serialisation: str):
    try:
        opened = open_envelope(body["EncryptedCode"], body["EncryptedContent"], [state.private_key_hex])
    except EnvelopeContentError:
        return _answer(state, 3007)
    except CryptoError:
        return _answer(state, 3006)
    try:
        payload = decode_payload(opened.payload, serialisation)  # type: ignore[arg-type]
        checked = validate_payload(header["IPCType"], payload)
    except (ValueError, PayloadShapeError):
        return _answer(state, 3008)
    if not checked.ok:
        return _answer(state, 3005, errors=[e.to_dict() for e in checked.errors])
    ref = header["MessageReferenceNumber"]
    item = {"ref": ref, "ipcType": header["IPCType"],
            "header": {k: v for k, v in header.items() if k != "Token"}, "payload": payload,
            "receivedAt": time.time(), "deliveries": 1}
    with state.lock:
        if ref in state.by_ref:  # a concurrent duplicate finished first: still stored once
            state.by_ref[ref]["deliveries"] += 1
            state.repeats += 1
        else:
            state.by_ref[ref] = item
            state.received.setdefault(header["IPCType"], []).append(item)
        return _answer_locked(state, 1001)


def _fault(state: MinistryState, *, count: bool) -> tuple[JSONResponse | None, float]:
    """The fault's answer, if it replaces the real one, and how long to stall first (``slow``)."""
    with state.lock:
        f = state.faults
        if count and f.remaining is not None and f.mode != "ok":
            f.remaining -= 1
            if f.remaining <= 0:
                state.faults = FaultsIn()
    if f.mode == "down":
        return JSONResponse({"detail": "service unavailable"}, status_code=503), 0.0
    if f.mode == "error" and count:
        return _answer(state, f.code, msg=MESSAGES.get(f.code, "模拟错误")), 0.0
    return None, (f.delay_s if f.mode == "slow" else 0.0)


def _token_ok(state: MinistryState, token: str) -> bool:
    with state.lock:
        entry = state.tokens.get(token)
        return entry is not None and time.monotonic() < entry[1]


def _answer(state: MinistryState, code: int, *, msg: str | None = None,
            errors: list | None = None) -> JSONResponse:
    with state.lock:
        return _answer_locked(state, code, msg=msg, errors=errors)


def _answer_locked(state: MinistryState, code: int, *, msg: str | None = None,
                   errors: list | None = None) -> JSONResponse:
    state.answers[code] = state.answers.get(code, 0) + 1
    out: dict[str, Any] = {"code": code, "msg": msg or MESSAGES.get(code, "")}
    if code == 3005:
        out["errors"] = errors or []
    return JSONResponse(out)
