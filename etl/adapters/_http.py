"""The HTTP call policy every adapter client shares: timeouts, retries with back-off, error mapping."""

from __future__ import annotations

import logging
import time
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from auth.masking import mask_text
from core.config import Settings, get_settings
from etl.adapters.errors import (
    AdapterError,
    AdapterRequestError,
    AdapterResponseError,
    AdapterTimeoutError,
    AdapterUnavailableError,
    TrackWindowTooLongError,
)

__all__ = ["NOT_FOUND_CODE", "BaseClient", "path"]

log = logging.getLogger(__name__)

#: Body ``code`` of a simulator/registry 404 meaning "no such record" (not "no such endpoint").
NOT_FOUND_CODE = "NOT_FOUND"

# 4xx body codes that have their own exception class.
_REQUEST_ERRORS: dict[str, type[AdapterRequestError]] = {"WINDOW_TOO_LONG": TrackWindowTooLongError}


def path(*segments: str) -> str:
    """Join URL path segments, percent-encoding each whole (Chinese plates, '/' in keys).

    Examples
    --------
    >>> path("national", "v1", "vehicles", "皖A12345", "2")
    '/national/v1/vehicles/%E7%9A%96A12345/2'
    """
    return "/" + "/".join(quote(str(s), safe="") for s in segments)


class BaseClient:
    """A small synchronous JSON-over-HTTP client for one outside system.

    Parameters
    ----------
    base_url : str
        Scheme, host and port (and an optional prefix) of the system.
    timeout_s : float
        Per-attempt timeout (connect, read, write, pool).
    retries : int
        Extra attempts after the first on connection errors, timeouts and 5xx answers. GETs are
        idempotent, so retrying a timed-out read is safe.
    backoff_s : float
        Sleep before retry k (k = 1, 2, ...) is ``backoff_s * 2**(k-1)``.
    """

    system = "adapter"  # also names the client's URL setting: WLHY_<SYSTEM>_URL

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Self:
        """Build a client from ``WLHY_<SYSTEM>_URL`` and the ``WLHY_ADAPTER_*`` call policy."""
        s = settings or get_settings()
        return cls(getattr(s, f"{cls.system}_url"), timeout_s=s.adapter_timeout_s, retries=s.adapter_retries,
                   backoff_s=s.adapter_backoff_s)

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, retries: int = 2, backoff_s: float = 0.2):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries!r}")
        if backoff_s < 0:
            raise ValueError(f"backoff_s must be >= 0, got {backoff_s!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, headers={"Accept": "application/json"}
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, timeout_s={self.timeout_s}, retries={self.retries})"

    def _get_json(self, url_path: str, params: dict[str, Any] | None = None) -> Any | None:
        """GET `url_path`; return the JSON body, or ``None`` when the system says there is no such record."""
        resp = self._send(url_path, params)
        if resp.status_code == 404 and _body_code(resp) == NOT_FOUND_CODE:
            return None
        if 400 <= resp.status_code < 500:
            code = _body_code(resp)
            # A 404 without our code means the endpoint is missing (wrong base URL), not the record.
            cls = _REQUEST_ERRORS.get(code or "", AdapterRequestError)
            raise cls(
                f"{self.system}: {resp.status_code} on GET {_redact(url_path)}: {_body_message(resp)}",
                system=self.system,
                status=resp.status_code,
                code=code,
            )
        if resp.status_code != 200:
            raise AdapterResponseError(
                f"{self.system}: unexpected status {resp.status_code} on GET {_redact(url_path)}",
                system=self.system,
                status=resp.status_code,
            )
        try:
            return resp.json()
        except ValueError:
            raise AdapterResponseError(
                f"{self.system}: answer to GET {_redact(url_path)} is not JSON",
                system=self.system,
                status=resp.status_code,
            ) from None

    def _get_record(self, parser, url_path: str, params: dict[str, Any] | None = None) -> Any | None:
        """GET `url_path` and parse the answer with `parser`; ``None`` when the system has no such record."""
        body = self._get_json(url_path, params)
        return None if body is None else self._parse(parser, body)

    def _parse(self, parser, body: Any):
        """Run a ``from_wire`` parser, turning a malformed body into ``AdapterResponseError``."""
        try:
            return parser(body)
        except ValidationError as exc:
            # Where and why only: the offending values may be personal data (ID numbers, names).
            why = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False, include_context=False)
            )
            raise AdapterResponseError(
                f"{self.system}: malformed answer ({why})", system=self.system
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise AdapterResponseError(
                f"{self.system}: malformed answer ({type(exc).__name__}: {exc})", system=self.system
            ) from exc

    def _send(self, url_path: str, params: dict[str, Any] | None) -> httpx.Response:
        """One GET with retries; return the first non-5xx response or raise ``AdapterUnavailableError``."""
        last: AdapterError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                resp = self._http.get(url_path, params=params)
            except httpx.TimeoutException as exc:
                last = AdapterTimeoutError(
                    f"{self.system}: no answer within {self.timeout_s} s on GET {_redact(url_path)}",
                    system=self.system,
                )
                last.__cause__ = exc
            except httpx.TransportError as exc:
                last = AdapterUnavailableError(
                    f"{self.system}: cannot reach {self.base_url} ({exc!r})", system=self.system
                )
                last.__cause__ = exc
            else:
                if resp.status_code < 500:
                    return resp
                last = AdapterUnavailableError(
                    f"{self.system}: {resp.status_code} on GET {_redact(url_path)}: {_body_message(resp)}",
                    system=self.system,
                    status=resp.status_code,
                    code=_body_code(resp),
                )
            log.warning("%s attempt %d/%d failed: %s", self.system, attempt + 1, self.retries + 1, last)
        assert last is not None
        raise last


def _body_code(resp: httpx.Response) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _body_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)[:200]
    return str(body)[:200]


def _redact(url_path: str) -> str:
    """Mask personal data (ID numbers, phones, bank cards) in a path before it reaches an error message or a log."""
    return mask_text(url_path)
