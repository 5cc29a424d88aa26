"""The project's base exceptions: each layer subclasses these, and the API edge (api/errors.py) maps them once.

A layer raises what happened in its own words (``AccountError``, ``RegistryUnavailable``, ``ScopeError``…); which
HTTP status that is gets decided only at the edge, by the base class.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConflictError", "ForbiddenError", "InvalidInputError", "NotFoundError", "ThrottledError",
           "UnavailableError", "WlhyError"]


class WlhyError(Exception):
    """Base of every exception the system raises on purpose.

    ``detail`` is what a client may be told (never personal data, never a password); it defaults to the message.
    """

    def __init__(self, message: str = "", *, detail: Any = None) -> None:
        super().__init__(message)
        self.detail = message if detail is None else detail


class NotFoundError(WlhyError, LookupError):
    """No such object, or not one the caller may see (the two answer alike)."""


class ForbiddenError(WlhyError, PermissionError):
    """The caller's role may not do this at all."""


class InvalidInputError(WlhyError, ValueError):
    """The request itself is wrong (a bad value, a refused application)."""


class ConflictError(WlhyError):
    """The request is well formed but clashes with the current state (an account already exists, …)."""


class ThrottledError(WlhyError):
    """Too many attempts; try again in ``retry_after_s`` seconds."""

    def __init__(self, message: str = "", *, retry_after_s: int = 1, detail: Any = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after_s = max(1, int(retry_after_s))


class UnavailableError(WlhyError):
    """An outside system (registry, national platform, Ministry) did not answer."""
