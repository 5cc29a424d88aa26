"""Exceptions raised by the third-party adapters (运政, national platform, tax, insurance).

``AdapterError`` is the base; callers that only care whether the outside system could answer catch
``AdapterUnavailableError`` (down, 5xx after retries, connection refused, timeout).
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AdapterRequestError",
    "AdapterResponseError",
    "AdapterTimeoutError",
    "AdapterUnavailableError",
    "TrackWindowTooLongError",
]


class AdapterError(Exception):
    """Base of every error an adapter client raises.

    Parameters
    ----------
    message : str
    system : str
        Which outside system answered ("yunzheng", "national", "tax", "insurance").
    status : int or None
        HTTP status of the last answer, if there was one.
    code : str or None
        The system's own error code from the answer body (e.g. ``"WINDOW_TOO_LONG"``).
    """

    def __init__(self, message: str, *, system: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.system = system
        self.status = status
        self.code = code


class AdapterUnavailableError(AdapterError):
    """The system could not be reached or kept answering 5xx after all retries."""


class AdapterTimeoutError(AdapterUnavailableError):
    """The system did not answer within the client's timeout (after all retries)."""


class AdapterRequestError(AdapterError):
    """The system refused the request (4xx other than a plain "not found")."""


class TrackWindowTooLongError(AdapterRequestError):
    """A BeiDou track was asked for a window longer than the national platform allows."""


class AdapterResponseError(AdapterError):
    """The system answered 2xx but the body is not what its interface promises."""
