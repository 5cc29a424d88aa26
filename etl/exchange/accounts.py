"""Platform access accounts (接入账号): issue, list, suspend, reset, and login checks for ``/exchange/auth``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import audit
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.security import hash_password, verify_nobody, verify_password
from etl.intake.documents import upsert_operator
from store.models import Account, Operator
from store.models.base import utcnow

__all__ = ["AccountError", "IssuedAccount", "LoginCheck", "PasswordRuleError", "UnknownAccount", "authenticate", "change_password",
           "check", "get_by_user_name", "issue", "list_all", "password_problems", "reset", "set_mode", "suspend"]

#: The rule for a password a platform sets itself: long, and of at least three kinds of character.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128


class AccountError(ConflictError):
    """An account operation that cannot be done (unknown account, operator already has one, …)."""


class PasswordRuleError(InvalidInputError):
    """A new password that breaks the rule, or a wrong old password."""


class UnknownAccount(NotFoundError):
    """No such account (or not the caller's)."""


@dataclass(frozen=True)
class IssuedAccount:
    """A new account and its one-time password (shown once, stored only as a hash)."""

    account: Account
    password: str


def _new_password() -> str:
    return secrets.token_urlsafe(15)


def get_by_user_name(*, db_session: Session, user_name: str) -> Account | None:
    """The account called ``user_name``, or None."""
    return db_session.scalars(select(Account).where(Account.user_name == user_name)).one_or_none()


def issue(*, db_session: Session, operator: Operator, sandbox: bool = True, user_name: str | None = None,
          one_time: bool = True) -> IssuedAccount:
    """Issue the exchange account of ``operator`` (sandbox until it passes joint testing).

    The password is one-time (``must_change_password``): it logs in on the test channel only, until the platform
    sets its own through its operator login (:func:`change_password`).  ``one_time=False`` is for callers that are
    the platform themselves (tests, benchmarks, the demo's own feed): the password is then the account's own.
    """
    user_name = user_name or f"wlhy{operator.usci}"
    if get_by_user_name(db_session=db_session, user_name=user_name) is not None:
        raise AccountError(f"account {user_name!r} already exists; use reset to give it a new password")
    password = _new_password()
    account = Account(user_name=user_name, password_hash=hash_password(password), operator_id=operator.id,
                      sandbox=sandbox, status="active", must_change_password=one_time, token_generation=0)
    db_session.add(account)
    db_session.flush()
    audit.record(db_session, "account_issue", target=f"account:{account.id}",
                 detail={"operatorId": operator.id, "sandbox": sandbox})
    return IssuedAccount(account, password)


def operator_for_usci(*, db_session: Session, usci: str, name: str | None = None) -> Operator:
    """The operator with this credit code, registered now under ``name`` when it is new.

    Raises
    ------
    AccountError
        If the operator is unknown and no name is given.
    """
    op = db_session.scalars(select(Operator).where(Operator.usci == usci)).one_or_none()
    if op is not None:
        return op
    if not name:
        raise AccountError("unknown operator: give its name to register it")
    return upsert_operator(db_session, {"unifiedSocialCreditIdentifier": usci, "name": name})


def list_all(*, db_session: Session) -> list[Account]:
    """Every account, oldest first."""
    return list(db_session.scalars(select(Account).order_by(Account.id)))


def _get_or_raise(db_session: Session, user_name: str) -> Account:
    account = get_by_user_name(db_session=db_session, user_name=user_name)
    if account is None:
        raise AccountError(f"no account {user_name!r}")
    return account


def suspend(*, db_session: Session, user_name: str) -> Account:
    """Suspend an account: it can no longer log in, and its live tokens stop working."""
    account = _get_or_raise(db_session, user_name)
    account.status = "suspended"
    account.token_generation = (account.token_generation or 0) + 1
    account.updated_at = utcnow()
    audit.record(db_session, "account_suspend", target=f"account:{account.id}")
    return account


def reset(*, db_session: Session, user_name: str, one_time: bool = True) -> IssuedAccount:
    """A new one-time password for an account (re-activates a suspended one; its earlier tokens stay dead).

    ``one_time=False``: see :func:`issue`.
    """
    account = _get_or_raise(db_session, user_name)
    password = _new_password()
    account.password_hash = hash_password(password)
    account.status = "active"
    account.must_change_password = one_time
    account.token_generation = (account.token_generation or 0) + 1
    account.updated_at = utcnow()
    audit.record(db_session, "account_reset", target=f"account:{account.id}")
    return IssuedAccount(account, password)


def set_mode(*, db_session: Session, user_name: str, sandbox: bool) -> Account:
    """Switch an account between the test channel (sandbox) and production."""
    account = _get_or_raise(db_session, user_name)
    account.sandbox = sandbox
    account.updated_at = utcnow()
    audit.record(db_session, "account_mode", target=f"account:{account.id}", detail={"sandbox": sandbox})
    return account


@dataclass(frozen=True)
class LoginCheck:
    """Outcome of :func:`check`: the account when it may log in, else why not (``wrong`` or ``one_time``)."""

    account: Account | None
    refusal: str | None = None


def check(*, db_session: Session, user_name: str, password: str) -> LoginCheck:
    """Check exchange credentials; an unknown name costs a dummy hash check (same time as a real one).

    Refusals: ``wrong`` (no such account, suspended, wrong password) and ``one_time`` (right password, but it is
    the one-time password of a production account: it works on the test channel only).
    """
    account = get_by_user_name(db_session=db_session, user_name=user_name)
    if account is None:
        verify_nobody(password)
        return LoginCheck(None, "wrong")
    if not verify_password(account.password_hash, password) or account.status != "active":
        return LoginCheck(None, "wrong")
    if account.must_change_password and not account.sandbox:
        return LoginCheck(None, "one_time")
    return LoginCheck(account)


def authenticate(*, db_session: Session, user_name: str, password: str) -> Account | None:
    """The active account for these credentials, or None (see :func:`check` for why)."""
    return check(db_session=db_session, user_name=user_name, password=password).account


def password_problems(password: str, *, user_name: str = "") -> list[str]:
    """What is wrong with a password a platform chooses (empty: it is fine).

    >>> password_problems("Abcdefgh1234")
    []
    >>> password_problems("short")[0]
    'at least 12 characters'
    """
    out = []
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        out.append(f"at least {MIN_PASSWORD_LENGTH} characters" if len(password) < MIN_PASSWORD_LENGTH
                   else f"at most {MAX_PASSWORD_LENGTH} characters")
    kinds = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if kinds < 3:
        out.append("at least three of: lower-case, upper-case, digit, other character")
    if user_name and user_name.lower() in password.lower():
        out.append("must not contain the account name")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        out.append("no control characters")
    return out


def change_password(*, db_session: Session, user_name: str, new_password: str, old_password: str | None = None,
                    operator_id: int | None = None, by: str | None = None, ip: str | None = None) -> Account:
    """The platform sets its own exchange password (its operator person login; ``operator_id`` = its platform).

    Clears ``must_change_password`` and bumps the token generation (earlier tokens stop working); audited.

    Raises
    ------
    UnknownAccount
        No such account, or (``operator_id`` given) not that operator's.
    PasswordRuleError
        The new password breaks :func:`password_problems`, equals the old one, or ``old_password`` is wrong.
    """
    account = get_by_user_name(db_session=db_session, user_name=user_name)
    if account is None or (operator_id is not None and account.operator_id != operator_id):
        raise UnknownAccount(f"no account {user_name!r}")
    if old_password is not None and not verify_password(account.password_hash, old_password):
        audit.refused(db_session, "account_password_change", "old password wrong", username=by,
                      target=f"account:{account.id}", ip=ip)
        raise PasswordRuleError("oldPassword is wrong")
    problems = password_problems(new_password, user_name=account.user_name)
    if not problems and verify_password(account.password_hash, new_password):
        problems.append("must differ from the current password")
    if problems:
        audit.refused(db_session, "account_password_change", "new password breaks the password rule", username=by,
                      target=f"account:{account.id}", ip=ip, detail={"problems": problems})
        raise PasswordRuleError("newPassword breaks the password rule", detail={"newPassword": problems})
    account.password_hash = hash_password(new_password)
    account.must_change_password = False
    account.token_generation = (account.token_generation or 0) + 1
    account.updated_at = utcnow()
    audit.record(db_session, "account_password_change", username=by, target=f"account:{account.id}", ip=ip)
    return account
