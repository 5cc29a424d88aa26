"""Exchange tokens: stateless, HMAC-SM3-signed, bound to one account, valid 2 hours (spec/EXCHANGE.md §1.1).

Stateless so that ``/exchange/send`` checks a token without a database round trip, across uvicorn workers; the
signing secret lives in ``system_meta`` (made on first use, wrapped under the master key: ``core.secrets_wrap``) so
every worker and restart shares it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import secrets_wrap
from store.models import SystemMeta

__all__ = ["TOKEN_TTL_S", "TokenClaims", "load_secret", "make_token", "read_token", "rewrap_secret"]

TOKEN_TTL_S = 2 * 3600
_SECRET_KEY = "exchange_token_secret"
_SECRET_CONTEXT = "system_meta:exchange_token_secret"  # bound into the wrapping (migration 0005 says the same)


@dataclass(frozen=True)
class TokenClaims:
    """Who a token belongs to and until when (epoch seconds)."""

    account_id: int
    user_name: str
    expires_at: int
    generation: int = 0  # the account's ``token_generation`` when issued: suspend, reset, a new password bump it


def load_secret(session: Session) -> bytes:
    """The shared signing secret, created once; stored only wrapped under the master key (a clear one is refused)."""
    made = secrets_wrap.wrap(secrets.token_bytes(32), _SECRET_CONTEXT)
    session.execute(insert(SystemMeta).values(key=_SECRET_KEY, value={"wrapped": made})
                    .on_conflict_do_nothing(index_elements=["key"]))
    value = session.scalar(select(SystemMeta.value).where(SystemMeta.key == _SECRET_KEY))
    session.commit()
    return secrets_wrap.unwrap(value.get("wrapped", ""), _SECRET_CONTEXT)


def rewrap_secret(session: Session, ring: secrets_wrap.MasterKeyring) -> int:
    """Re-wrap the stored signing secret under ``ring``'s current master key (rotation); 1 if it changed, else 0."""
    row = session.get(SystemMeta, _SECRET_KEY, with_for_update=True)
    if row is None or not ring.needs_rewrap(row.value.get("wrapped", "")):
        return 0
    clear = ring.unwrap(row.value.get("wrapped", ""), _SECRET_CONTEXT)
    row.value = {"wrapped": ring.wrap(clear, _SECRET_CONTEXT)}
    return 1


def _mac(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, _sm3).hexdigest()


def _sm3(data: bytes = b""):
    return hashlib.new("sm3", data)


def make_token(secret: bytes, *, account_id: int, user_name: str, generation: int = 0, ttl_s: int = TOKEN_TTL_S,
               now: float | None = None) -> str:
    """A token for the account, valid ``ttl_s`` seconds, bound to its current token ``generation``.

    The body is ``account.expires.nonce.gGENERATION.user_name``; the caller refuses a token whose generation is
    not the account's current one (every token issued before a suspension, reset or password change).
    """
    expires = int((now if now is not None else time.time()) + ttl_s)
    body = f"{account_id}.{expires}.{secrets.token_hex(4)}.g{int(generation)}.{user_name}".encode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + _mac(secret, body)


@lru_cache(maxsize=4096)
def _decode(token: str) -> tuple[bytes, str] | None:
    try:
        b64, mac = token.rsplit(".", 1)
        body = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    except (ValueError, TypeError):
        return None
    return body, mac


def read_token(secret: bytes, token: str | None, *, now: float | None = None) -> TokenClaims | None:
    """The claims of a genuine, unexpired token, else None."""
    if not token or len(token) > 400:
        return None
    decoded = _decode(token)
    if decoded is None:
        return None
    body, mac = decoded
    # compare_digest refuses non-ASCII str (TypeError): a forged signature of any characters is just wrong.
    if not mac.isascii() or not hmac.compare_digest(_mac(secret, body).encode(), mac.encode()):
        return None
    try:
        account_id, expires, _nonce, generation, user_name = body.decode().split(".", 4)
        if not generation.startswith("g"):
            return None
        claims = TokenClaims(int(account_id), user_name, int(expires), int(generation[1:]))
    except (ValueError, UnicodeDecodeError):
        return None
    if claims.expires_at <= (now if now is not None else time.time()):
        return None
    return claims
