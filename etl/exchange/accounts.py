"""Platform access accounts (接入账号): issue, list, suspend, reset, and login checks for ``/exchange/auth``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import audit
from core.errors import ConflictError
from core.security import hash_password, verify_password
from etl.intake.documents import upsert_operator
from store.models import Account, Operator
from store.models.base import utcnow

__all__ = ["AccountError", "IssuedAccount", "authenticate", "get_by_user_name", "issue", "list_all", "reset",
           "set_mode", "suspend"]


class AccountError(ConflictError):
    """An account operation that cannot be done (unknown account, operator already has one, …)."""


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


def issue(*, db_session: Session, operator: Operator, sandbox: bool = True, user_name: str | None = None) -> IssuedAccount:
    """Issue the exchange account of ``operator`` (sandbox until it passes joint testing)."""
    user_name = user_name or f"wlhy{operator.usci}"
    if get_by_user_name(db_session=db_session, user_name=user_name) is not None:
        raise AccountError(f"account {user_name!r} already exists; use reset to give it a new password")
    password = _new_password()
    account = Account(user_name=user_name, password_hash=hash_password(password), operator_id=operator.id,
                      sandbox=sandbox, status="active", must_change_password=True)
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
    account.updated_at = utcnow()
    audit.record(db_session, "account_suspend", target=f"account:{account.id}")
    return account


def reset(*, db_session: Session, user_name: str) -> IssuedAccount:
    """A new one-time password for an account (re-activates a suspended one)."""
    account = _get_or_raise(db_session, user_name)
    password = _new_password()
    account.password_hash = hash_password(password)
    account.status = "active"
    account.must_change_password = True
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


def authenticate(*, db_session: Session, user_name: str, password: str) -> Account | None:
    """The active account for these credentials, or None."""
    account = get_by_user_name(db_session=db_session, user_name=user_name)
    if account is None or account.status != "active" or not verify_password(account.password_hash, password):
        return None
    return account
