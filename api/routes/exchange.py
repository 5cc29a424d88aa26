"""``/exchange``: the platforms' wire protocol (spec/EXCHANGE.md §1) — thin: read the body, call the service.

Bodies are read as a stream and the reading stops at the cap (``Content-Length`` is believed only when it already
says too much): 4 KiB on ``/exchange/auth``, ``WLHY_EXCHANGE_MAX_BODY`` (16 MiB) on ``/exchange/send``.  Too large
answers 413 with the endpoint's code (2001, 3004); anything that goes wrong below answers a spec code, never 500.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from core.config import get_settings
from etl.exchange.service import AUTH_MAX_BODY, ExchangeService, Reply
from etl.intake.results import RESULT_MESSAGES

__all__ = ["PLAIN_ROUTES", "read_capped", "router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/exchange", tags=["exchange (platforms)"])


def _service(request: Request) -> ExchangeService:
    return request.app.state.exchange


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``cap`` bytes (the rest is never read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _response(reply: Reply) -> JSONResponse:
    headers = {"Retry-After": str(reply.retry_after_s)} if reply.retry_after_s else None
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


@router.post("/auth", summary="Get a 2-hour token: {userName, passWord} → {code, msg, data}")
async def auth(request: Request) -> JSONResponse:
    body = await read_capped(request, AUTH_MAX_BODY)
    if body is None:
        return JSONResponse({"code": 2001, "msg": f"请求过大 body larger than {AUTH_MAX_BODY} bytes"},
                            status_code=413, headers={"Connection": "close"})
    try:
        reply = await run_in_threadpool(_service(request).auth, body, ip=_ip(request))
    except Exception as e:  # noqa: BLE001 - the database is down, most likely: still a spec code
        log.error("exchange auth failed: %s", type(e).__name__)
        return JSONResponse({"code": 9001, "msg": RESULT_MESSAGES[9001]}, status_code=503)
    return _response(reply)


@router.post("/send", summary="Send one SM2/SM4-enveloped message → {code, msg[, errors]}")
async def send(request: Request) -> JSONResponse:
    cap = get_settings().exchange_max_body
    body = await read_capped(request, cap)
    if body is None:
        return JSONResponse({"code": 3004, "msg": f"{RESULT_MESSAGES[3004]}: body larger than {cap} bytes"},
                            status_code=413, headers={"Connection": "close"})
    try:
        reply = await run_in_threadpool(_service(request).send, body, ip=_ip(request))
    except Exception as e:  # noqa: BLE001 - nothing could be archived (the database is down): still a spec code
        log.error("exchange send failed before archiving: %s", type(e).__name__)
        return JSONResponse({"code": 9001, "msg": RESULT_MESSAGES[9001]}, status_code=503)
    return _response(reply)


#: What ``api.main`` serves as plain Starlette routes, ahead of the FastAPI ones above: FastAPI's request handling
#: (dependency solving, response wrapping) cost about 0.4 ms of CPU per message here, and these endpoints take no
#: parameters.  The FastAPI routes at the same paths are then never matched (Starlette takes the first match):
#: they only document the endpoints in /openapi.json.
PLAIN_ROUTES = (("/exchange/auth", auth), ("/exchange/send", send))
