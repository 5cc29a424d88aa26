"""The one place where the layers' exceptions become HTTP statuses (``/api/v1``) — routes do not catch them.

Errors keep FastAPI's shape, ``{"detail": …}``, with ``detail`` a message or, where the layer gives one, a structure
(e.g. a refused access application: ``{"refused": true, "reasons": [...]}``). The exchange (``/exchange``) answers
spec result codes instead and never reaches these handlers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    ThrottledError,
    UnavailableError,
    WlhyError,
)

__all__ = ["RESPONSES", "STATUS", "ErrorBody", "install"]

#: Base exception → HTTP status; the first matching class of an exception's MRO wins.
STATUS: dict[type[WlhyError], int] = {
    NotFoundError: 404,
    ForbiddenError: 403,
    InvalidInputError: 422,
    ConflictError: 409,
    ThrottledError: 429,
    UnavailableError: 503,
}


class ErrorBody(BaseModel):
    """错误应答（统一格式）· The one error shape of ``/api/v1``: ``{"detail": …}``."""

    model_config = ConfigDict(json_schema_extra={"example": {"detail": "no waybill 123"}})

    detail: Any = Field(description="原因：一句话，或结构化内容（如 422 的字段错误列表、被拒申请的原因）。"
                                    "Why: a message, or a structure (the field errors of a 422, the reasons of a "
                                    "refused access application).")


def _error(zh: str, en: str, example: Any) -> dict[str, Any]:
    return {"model": ErrorBody, "description": f"{zh} · {en}",
            "content": {"application/json": {"example": {"detail": example}}}}


#: The documented error answers of every ``/api/v1`` route (attached once, to the routers in ``api.main``).
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("未登录或令牌失效", "missing, invalid or expired bearer token",
                "token invalid or expired; log in again"),
    403: _error("角色无权访问", "your role may not do this", "role 'analyst' reads aggregates only, not single documents"),
    404: _error("不存在或不在权限范围内（两者同样应答）", "not found, or out of your scope (answered alike)",
                "no waybill 123"),
    409: _error("与现有状态冲突", "conflicts with the current state", "account 'wlhy-test' already exists"),
    422: _error("输入无效（字段、取值、排序名）", "invalid input (field, value, sort name)",
                [{"loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1",
                  "type": "greater_than_equal"}]),
    429: _error("请求过于频繁，按 Retry-After 等待", "throttled: wait Retry-After seconds",
                "too many failed logins; retry in 4 s"),
    503: _error("外部系统不可用（运政、全国货运车辆平台等）", "an outside system is down (运政 registry, national platform, …)",
                "运政 registry unavailable"),
}


def status_of(exc: WlhyError) -> int:
    """The HTTP status of a layer exception (500 for a WlhyError that fits no class: a bug to fix)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _fill_error_content(schema: dict[str, Any]) -> dict[str, Any]:
    """Give an error answer that a route documented by description only (``responses={404: {"description": …}}``
    replaces the routers' entry) the ErrorBody content, so every ``/api/v1`` error names the one shape."""
    for path, ops in schema.get("paths", {}).items():
        if not path.startswith("/api/v1"):
            continue
        for op in ops.values():
            for code, resp in op.get("responses", {}).items():
                if code.isdigit() and int(code) in RESPONSES and "content" not in resp:
                    resp["content"] = {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorBody"},
                        "example": RESPONSES[int(code)]["content"]["application/json"]["example"]}}
    return schema


def install(app: FastAPI) -> None:
    """Register the handler on ``app`` (and complete the error answers of its OpenAPI document)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _fill_error_content(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(WlhyError)
    async def _wlhy_error(request: Request, exc: WlhyError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, ThrottledError) else None
        return JSONResponse({"detail": exc.detail}, status_code=status_of(exc), headers=headers)
