"""Users, password hashes (argon2id) and bearer tokens stored as SHA-256 digests."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import audit, throttle
from core.errors import NotFoundError, ThrottledError
from core.security import hash_password, verify_nobody, verify_password
from store.models import ROLES, AppUser, UserSession
from store.models.base import utcnow

__all__ = [
    "LoginThrottled",
    "IssuedToken",
    "authenticate",
    "create",
    "get_by_username",
    "issue_token",
    "reset_password",
    "revoke_token",
    "user_for_token",
]

class LoginThrottled(ThrottledError):
    """Too many recent failed logins for this username or from this address: wait ``retry_after_s``."""


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued bearer token (the only time it exists in clear)."""

    token: str
    expires_at: dt.datetime
    user: AppUser


def get_by_username(*, db_session: Session, username: str) -> AppUser | None:
    """The user called ``username``, or None."""
    return db_session.scalars(select(AppUser).where(AppUser.username == username)).one_or_none()


def create(
    *,
    db_session: Session,
    username: str,
    password: str,
    role: str,
    division_code: str | None = None,
    operator_id: int | None = None,
    full_name: str | None = None,
) -> AppUser:
    """Create a user; regulators need a division code, an operator user needs its platform."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if role in ("province", "city", "county") and not division_code:
        raise ValueError(f"role {role!r} needs a division_code (GB/T 2260, 6 digits)")
    if role == "operator" and operator_id is None:
        raise ValueError("role 'operator' needs operator_id (the platform the user belongs to)")
    user = AppUser(username=username, password_hash=hash_password(password), role=role,
                   division_code=division_code, operator_id=operator_id, full_name=full_name)
    db_session.add(user)
    db_session.flush()
    return user


def authenticate(*, db_session: Session, username: str, password: str, ip: str | None = None) -> AppUser | None:
    """Check a login; audits success and failure; growing delays after repeated failures (auth.throttle).

    Raises
    ------
    LoginThrottled
        While this username, or this address, must still wait after its recent failures (the attempt is
        audited, not checked, and does not count as a failure).
    """
    wait = throttle.wait_s(db_session, "login_failed", throttle.ACCOUNT, username=username)
    if ip is not None:
        wait = max(wait, throttle.wait_s(db_session, "login_failed", throttle.ADDRESS, ip=ip))
    if wait:
        audit.record(db_session, "login_throttled", username=username, ip=ip, outcome="refused")
        raise LoginThrottled(f"too many failed logins; try again in {wait} s", retry_after_s=wait)
    user = get_by_username(db_session=db_session, username=username)
    if user is None:
        verify_nobody(password)  # same time as a real check: the answer's delay tells nothing about the name
    if user is None or not user.active or not verify_password(user.password_hash, password):
        audit.record(db_session, "login_failed", username=username, ip=ip, outcome="refused")
        return None
    user.last_login_at = utcnow()
    audit.record(db_session, "login", user_id=user.id, username=username, role=user.role, ip=ip)
    return user


def reset_password(*, db_session: Session, username: str, by: str | None = None) -> str:
    """Give ``username`` a new random password (returned, the only time it exists in clear); audited.

    Raises
    ------
    NotFoundError
        If there is no such user.
    """
    user = get_by_username(db_session=db_session, username=username)
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    password = secrets.token_urlsafe(12)
    user.password_hash = hash_password(password)
    audit.record(db_session, "user_password_reset", username=by, target=f"app_user:{user.id}")
    return password


def issue_token(*, db_session: Session, user: AppUser, ttl: dt.timedelta) -> IssuedToken:
    """A new random bearer token for ``user``; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + ttl
    db_session.add(UserSession(token_sha256=_digest(token), user_id=user.id, expires_at=expires_at))
    db_session.flush()
    return IssuedToken(token=token, expires_at=expires_at, user=user)


def user_for_token(*, db_session: Session, token: str) -> AppUser | None:
    """The active user a valid, unexpired, unrevoked token belongs to, or None."""
    row = db_session.execute(
        select(AppUser, UserSession)
        .join(UserSession, UserSession.user_id == AppUser.id)
        .where(UserSession.token_sha256 == _digest(token))
    ).one_or_none()
    if row is None:
        return None
    user, sess = row
    if sess.revoked or sess.expires_at <= utcnow() or not user.active:
        return None
    return user


def revoke_token(*, db_session: Session, token: str) -> bool:
    """Revoke a token (logout); True when it existed."""
    sess = db_session.scalars(select(UserSession).where(UserSession.token_sha256 == _digest(token))).one_or_none()
    if sess is None:
        return False
    sess.revoked = True
    return True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
