"""Password hashing (argon2id), one hasher for people (``app_user``) and platform accounts (``account``)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "verify_nobody", "verify_password"]

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
_NOBODY: list[str] = []  # a hash of a random password, made on first use


def hash_password(password: str) -> str:
    """argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (a malformed hash is simply no match)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_nobody(password: str) -> bool:
    """Spend the time of a real check against no account, so an unknown name answers as slowly as a known one."""
    if not _NOBODY:
        import secrets

        _NOBODY.append(hash_password(secrets.token_urlsafe(16)))
    verify_password(_NOBODY[0], password)
    return False
