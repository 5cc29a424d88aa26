"""``/exchange``: the platforms' wire protocol (spec/EXCHANGE.md §1) — thin: read the body, call the service."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from etl.exchange.service import ExchangeService

__all__ = ["router"]

router = APIRouter(prefix="/exchange", tags=["exchange (platforms)"])

_MAX_BODY = 16 * 1024 * 1024  # a 10,000-fix message is ~1.5 MB of ciphertext


def _service(request: Request) -> ExchangeService:
    return request.app.state.exchange


async def _body(request: Request) -> bytes | None:
    body = await request.body()
    return None if len(body) > _MAX_BODY else body


@router.post("/auth", summary="Get a 2-hour token: {userName, passWord} → {code, msg, data}")
async def auth(request: Request) -> JSONResponse:
    body = await _body(request)
    if body is None:
        return JSONResponse({"code": 2001, "msg": "请求过大 body too large"}, status_code=413)
    reply = await run_in_threadpool(_service(request).auth, body)
    return JSONResponse(reply.body, status_code=reply.status)


@router.post("/send", summary="Send one SM2/SM4-enveloped message → {code, msg[, errors]}")
async def send(request: Request) -> JSONResponse:
    body = await _body(request)
    if body is None:
        return JSONResponse({"code": 3004, "msg": "交换报文解析错误: body larger than 16 MiB"}, status_code=413)
    reply = await run_in_threadpool(_service(request).send, body)
    return JSONResponse(reply.body, status_code=reply.status)
