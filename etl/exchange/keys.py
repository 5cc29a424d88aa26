"""The province's SM2 key pairs: generate, rotate (old and new both decrypt during an overlap), export.

The private keys are what every platform's envelope is opened with; they are kept in ``province_key``
(readable only by the database role of this service) and never logged.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from etl.exchange import crypto
from store.models import ProvinceKey
from store.models.base import utcnow

__all__ = ["DEFAULT_OVERLAP", "ProvinceKeyError", "current", "decryption_keys", "ensure_current", "generate", "rotate"]

DEFAULT_OVERLAP = dt.timedelta(days=30)


class ProvinceKeyError(LookupError):
    """No usable province key (run `wlhy keys generate`)."""


def current(*, db_session: Session) -> ProvinceKey | None:
    """The current key pair, or None before the first `wlhy keys generate`."""
    return db_session.scalars(select(ProvinceKey).where(ProvinceKey.status == "current")).one_or_none()


def generate(*, db_session: Session) -> ProvinceKey:
    """Make the first key pair; refuses when one exists (use :func:`rotate`)."""
    if current(db_session=db_session) is not None:
        raise ProvinceKeyError("a current province key exists; rotate it instead")
    return _new(db_session)


def ensure_current(*, db_session: Session) -> ProvinceKey:
    """The current key pair, made on first use (demo and tests)."""
    return current(db_session=db_session) or _new(db_session)


def rotate(*, db_session: Session, overlap: dt.timedelta = DEFAULT_OVERLAP) -> ProvinceKey:
    """A new current key; the old one stays usable for decryption until ``overlap`` has passed."""
    now = utcnow()
    for key in db_session.scalars(select(ProvinceKey).where(ProvinceKey.status == "previous")):
        key.status = "retired"
    old = current(db_session=db_session)
    if old is not None:
        old.status = "previous"
        old.retire_after = now + overlap
        db_session.flush()
    return _new(db_session)


def decryption_keys(*, db_session: Session, now: dt.datetime | None = None) -> list[str]:
    """Private keys that may open an envelope now: the current one first, then a previous one in its overlap."""
    now = now or utcnow()
    rows = db_session.scalars(select(ProvinceKey).where(ProvinceKey.status.in_(("current", "previous")))).all()
    usable = [k for k in rows if k.status == "current" or (k.retire_after is None or k.retire_after > now)]
    usable.sort(key=lambda k: k.status != "current")
    return [k.private_key_hex for k in usable]


def _new(db_session: Session) -> ProvinceKey:
    private_hex, public_hex = crypto.generate_keypair()
    key = ProvinceKey(key_id=utcnow().strftime("%Y%m%d") + "-" + secrets.token_hex(4), public_key_hex=public_hex,
                      private_key_hex=private_hex, status="current")
    db_session.add(key)
    db_session.flush()
    return key
