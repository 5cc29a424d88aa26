"""A reference platform client: logs in, seals each payload in an SM2/SM4 envelope and sends it.

Platforms can read it as the executable form of spec/EXCHANGE.md §1; the demo feeds the generated province
through it, so the demo exercises the same path a platform does.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from core import beijing
from etl.exchange import crypto
from etl.schemas import IPC_TYPES

__all__ = ["ExchangeClient", "ExchangeClientError"]



class ExchangeClientError(RuntimeError):
    """The exchange could not be reached or refused the login."""


class ExchangeClient:
    """Send payloads to a provincial exchange (``base_url`` up to, not including, ``/exchange``).

    Parameters
    ----------
    base_url : str
        e.g. ``http://127.0.0.1:8000``.
    user_name, password : str
        The access account issued by access authentication.
    public_key_hex : str
        The province's SM2 public key (``04`` + X + Y, hex).
    weak_c1_private_hex : str, optional
        Seal with this fixed ephemeral key instead of a random one — only to reproduce a weak client in tests.
    """

    def __init__(self, base_url: str, user_name: str, password: str, public_key_hex: str, *,
                 sender_code: str = "340000", timeout: float = 30.0, order: str = "C1C3C2",
                 weak_c1_private_hex: str | None = None, http: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        self.user_name, self.password, self.public_key_hex = user_name, password, public_key_hex
        self.sender_code, self.order, self.weak = sender_code, order, weak_c1_private_hex
        self.http = http or httpx.Client(timeout=timeout)
        self.token: str | None = None

    def login(self) -> str:
        """Get a token (valid 2 h) and keep it."""
        try:
            r = self.http.post(f"{self.base_url}/exchange/auth",
                               json={"userName": self.user_name, "passWord": self.password})
        except httpx.HTTPError as e:
            raise ExchangeClientError(f"exchange unreachable: {e}") from e
        body = r.json()
        if body.get("code") != 1001:
            raise ExchangeClientError(f"login refused: {body}")
        self.token = body["data"]
        return self.token

    def envelope(self, ipc_type: str, payload: dict[str, Any] | bytes, *, reference: str | None = None,
                 weak: bool = False) -> dict[str, Any]:
        """The full JSON envelope for one payload (sealed; ``weak`` reuses the fixed ephemeral key)."""
        spec = IPC_TYPES[ipc_type]
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        code, content = crypto.seal(data, self.public_key_hex, order=self.order,
                                    ephemeral_private_hex=self.weak if (weak and self.weak) else None)
        return {"root": {
            "header": {
                "messageReferenceNumber": reference or uuid.uuid4().hex,
                "documentName": spec.document_names[0],
                "documentVersionNumber": "2.0",
                "senderCode": self.sender_code,
                "enterpriseSenderCode": self.user_name,
                "messageSendingDateTime": beijing.wire_datetime(beijing.now()),
                "ipcType": ipc_type,
                "token": self.token or "",
            },
            "body": {"encryptedCode": code, "encryptedContent": content},
        }}

    def send(self, ipc_type: str, payload: dict[str, Any] | bytes, *, reference: str | None = None,
             weak: bool = False) -> dict[str, Any]:
        """Seal and send one payload; logs in first and once more if the token has expired (2001)."""
        if self.token is None:
            self.login()
        for attempt in (1, 2):
            env = self.envelope(ipc_type, payload, reference=reference, weak=weak)
            try:
                r = self.http.post(f"{self.base_url}/exchange/send", json=env)
            except httpx.HTTPError as e:
                raise ExchangeClientError(f"exchange unreachable: {e}") from e
            body = r.json()
            if body.get("code") == 2001 and attempt == 1:
                self.login()
                continue
            return body
        return body

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
