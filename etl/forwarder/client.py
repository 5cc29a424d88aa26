"""HTTP client for the Ministry's exchange: log in at /auth, cache the token, POST envelopes to /send."""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from core.config import Settings
from etl.forwarder.envelope import envelope_to_wire

__all__ = ["ACCEPTED", "TOKEN_INVALID", "MinistryAnswer", "MinistryClient", "MinistryUnavailable"]

log = logging.getLogger(__name__)

ACCEPTED = 1001
TOKEN_INVALID = 2001
_TOKEN_MARGIN_S = 300.0  # log in again a little before the Ministry's token expires


class MinistryUnavailable(Exception):
    """The Ministry could not be reached or did not answer with a result code (network, HTTP 5xx, garbage)."""


@dataclass
class MinistryAnswer:
    """What the Ministry answered to one send: its result code, message and (for 3005) field errors."""

    code: int
    msg: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """True for 1001."""
        return self.code == ACCEPTED


class MinistryClient:
    """One login session with the Ministry; thread-safe, so several workers in one process may share it.

    Parameters
    ----------
    settings : Settings
        Its ``ministry_*`` fields: URL, account, timeouts, the serialisation.
    http : httpx.Client, optional
        A client to reuse (tests); by default one is made with ``settings.ministry_timeout_s``.
    """

    def __init__(self, settings: Settings, *, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=settings.ministry_timeout_s)
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()
        self.logins = 0  # how many times we logged in (observability, tests)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def token(self, *, refresh: bool = False) -> str:
        """The cached token, logging in first when there is none, it is about to expire, or `refresh` is set.

        Raises
        ------
        MinistryUnavailable
            If the login cannot be made or is refused (the refusal's code and text are in the message).
        """
        with self._lock:
            if refresh or self._token is None or time.monotonic() >= self._token_expires:
                self._token = self._login()
                ttl = self.settings.ministry_token_ttl_s
                self._token_expires = time.monotonic() + max(ttl - _TOKEN_MARGIN_S, 1.0)
            return self._token

    def send(self, envelope: dict[str, Any]) -> MinistryAnswer:
        """POST `envelope` (its ``Token`` filled in here); on 2001 log in again once and resend.

        Raises
        ------
        MinistryUnavailable
            On a transport error, an HTTP error status or an answer without a result code.
        """
        answer = self._post_send(envelope, self.token())
        if answer.code == TOKEN_INVALID:
            log.info("ministry refused the token (2001); logging in again")
            answer = self._post_send(envelope, self.token(refresh=True))
        return answer

    def _login(self) -> str:
        s = self.settings
        data = self._post("/auth", {"userName": s.ministry_user_name, "passWord": s.ministry_password})
        self.logins += 1
        if data.get("code") != ACCEPTED or not data.get("data"):
            raise MinistryUnavailable(f"login refused: {data.get('code')} {data.get('msg', '')}".strip())
        return str(data["data"])

    def _post_send(self, envelope: dict[str, Any], token: str) -> MinistryAnswer:
        env = copy.deepcopy(envelope)
        env["Root"]["Header"]["Token"] = token
        body, content_type = envelope_to_wire(env, self.settings.ministry_serialisation)
        data = self._post("/send", body, content_type=content_type)
        return MinistryAnswer(int(data["code"]), str(data.get("msg", "")), list(data.get("errors") or []))

    def _post(self, path: str, payload: Any, *, content_type: str = "application/json") -> dict[str, Any]:
        url = self.settings.ministry_url.rstrip("/") + path
        try:
            if isinstance(payload, bytes):
                r = self._http.post(url, content=payload, headers={"Content-Type": content_type})
            else:
                r = self._http.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise MinistryUnavailable(f"{path}: {type(exc).__name__}: {exc}") from exc
        if r.status_code >= 400:
            raise MinistryUnavailable(f"{path}: HTTP {r.status_code}")
        try:
            data = r.json()
        except ValueError:
            raise MinistryUnavailable(f"{path}: answer is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("code"), (int, str)) \
                or not str(data.get("code")).lstrip("-").isdigit():
            raise MinistryUnavailable(f"{path}: answer has no result code")
        data["code"] = int(data["code"])
        return data
