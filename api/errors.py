"""The one place where the layers' exceptions become HTTP statuses (``/api/v1``) — routes do not catch them.

Errors keep FastAPI's shape, ``{"detail": …}``, with ``detail`` a message or, where the layer gives one, a structure
(e.g. a refused access application: ``{"refused": true, "reasons": [...]}``). The exchange (``/exchange``) answers
spec result codes instead and never reaches these handlers.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    ThrottledError,
    UnavailableError,
    WlhyError,
)

__all__ = ["STATUS", "install"]

#: Base exception → HTTP status; the first matching class of an exception's MRO wins.
STATUS: dict[type[WlhyError], int] = {
    NotFoundError: 404,
    ForbiddenError: 403,
    InvalidInputError: 422,
    ConflictError: 409,
    ThrottledError: 429,
    UnavailableError: 503,
}


def status_of(exc: WlhyError) -> int:
    """The HTTP status of a layer exception (500 for a WlhyError that fits no class: a bug to fix)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def install(app: FastAPI) -> None:
    """Register the handler on ``app``."""

    @app.exception_handler(WlhyError)
    async def _wlhy_error(request: Request, exc: WlhyError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, ThrottledError) else None
        return JSONResponse({"detail": exc.detail}, status_code=status_of(exc), headers=headers)
