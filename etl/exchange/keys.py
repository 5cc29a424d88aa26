"""The province's SM2 key pairs: generate, rotate (old and new both decrypt during an overlap), export.

The private keys are what every platform's envelope is opened with; ``province_key`` holds them only wrapped under
the master key kept outside the database (``core.secrets_wrap``, bound to the row's key id), and they are never
logged.  :func:`rotate` also re-wraps every stored secret under a new master key version; once nothing is wrapped
under an old version any more, :func:`drop_master_versions` removes the old versions from the key file. Each of
these is an audit row.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import audit
from core import secrets_wrap
from core.errors import ConflictError
from etl.exchange import crypto, tokens
from store.models import ProvinceKey, SystemMeta
from store.models.base import utcnow

__all__ = ["DEFAULT_OVERLAP", "MasterKeyInUse", "ProvinceKeyError", "current", "decryption_keys",
           "drop_master_versions", "ensure_current", "generate", "master_key_usage", "private_key_hex", "rewrap",
           "rewrap_all", "rotate", "wrap_private_key"]

DEFAULT_OVERLAP = dt.timedelta(days=30)


class ProvinceKeyError(LookupError):
    """No usable province key (run `wlhy keys generate`)."""


class MasterKeyInUse(ConflictError):
    """A master key version to drop still wraps a stored secret (re-wrap first: `wlhy keys rewrap`)."""


def current(*, db_session: Session) -> ProvinceKey | None:
    """The current key pair, or None before the first `wlhy keys generate`."""
    return db_session.scalars(select(ProvinceKey).where(ProvinceKey.status == "current")).one_or_none()


def generate(*, db_session: Session, actor: str | None = None) -> ProvinceKey:
    """Make the first key pair; refuses when one exists (use :func:`rotate`). ``actor`` names who, for the audit."""
    if current(db_session=db_session) is not None:
        raise ProvinceKeyError("a current province key exists; rotate it instead")
    key = _new(db_session)
    audit.record(db_session, "province_key_generate", username=actor, target=f"province_key:{key.key_id}",
                 detail={"masterKeyId": secrets_wrap.keyring().current})
    return key


def ensure_current(*, db_session: Session) -> ProvinceKey:
    """The current key pair, made on first use (demo and tests)."""
    return current(db_session=db_session) or _new(db_session)


def private_key_hex(key: ProvinceKey) -> str:
    """The clear private key of ``key`` (unwrapped now; refused if the stored value is clear or altered)."""
    return secrets_wrap.unwrap(key.private_key_wrapped, _context(key.key_id)).decode("ascii")


def rewrap_all(*, db_session: Session, ring: secrets_wrap.MasterKeyring | None = None) -> int:
    """Re-wrap every stored secret (province keys, retired ones too, and the token-signing secret) under the current
    master key version; returns how many values changed."""
    ring = ring or secrets_wrap.keyring()
    changed = 0
    for key in db_session.scalars(select(ProvinceKey).order_by(ProvinceKey.id)):
        if ring.needs_rewrap(key.private_key_wrapped):
            clear = ring.unwrap(key.private_key_wrapped, _context(key.key_id))
            key.private_key_wrapped = ring.wrap(clear, _context(key.key_id))
            changed += 1
    changed += tokens.rewrap_secret(db_session, ring)
    db_session.flush()
    return changed


def rotate(*, db_session: Session, overlap: dt.timedelta = DEFAULT_OVERLAP, new_master_key: bool = True,
           actor: str | None = None) -> ProvinceKey:
    """A new current key; the old one stays usable for decryption until ``overlap`` has passed.

    With ``new_master_key`` a new master key version is made first (key file; with ``WLHY_MASTER_KEY`` its first
    key is the current one) and every stored secret is re-wrapped under it; older versions stay in the key file,
    so nothing becomes unreadable if this transaction does not commit. The rotation is an audit row (``actor``:
    who, e.g. ``cli:root``) naming the old and new key, the overlap and the master key version now current.
    """
    rewrapped = rewrap_all(db_session=db_session, ring=secrets_wrap.add_version()) if new_master_key else 0
    now = utcnow()
    for key in db_session.scalars(select(ProvinceKey).where(ProvinceKey.status == "previous")):
        key.status = "retired"
    old = current(db_session=db_session)
    if old is not None:
        old.status = "previous"
        old.retire_after = now + overlap
        db_session.flush()
    new = _new(db_session)
    audit.record(db_session, "province_key_rotate", username=actor, target=f"province_key:{new.key_id}",
                 detail={"previousKeyId": old.key_id if old is not None else None,
                         "overlapDays": overlap.total_seconds() / 86400, "newMasterKey": new_master_key,
                         "masterKeyId": secrets_wrap.keyring().current, "rewrapped": rewrapped})
    return new


def rewrap(*, db_session: Session, actor: str | None = None) -> int:
    """:func:`rewrap_all` under the current master key version (after a rotation elsewhere, or before dropping old
    versions), as an audit row; returns how many values changed."""
    ring = secrets_wrap.keyring(fresh=True)
    changed = rewrap_all(db_session=db_session, ring=ring)
    audit.record(db_session, "master_key_rewrap", username=actor, target=f"master_key:{ring.current}",
                 detail={"rewrapped": changed})
    return changed


def master_key_usage(*, db_session: Session) -> dict[str, int]:
    """How many stored secrets each master key version wraps (``"clear"`` for values not wrapped at all):
    province keys (retired ones too) and every wrapped setting in ``system_meta`` (the token-signing secret)."""
    values = list(db_session.scalars(select(ProvinceKey.private_key_wrapped)))
    values += [row.get("wrapped") for row in db_session.scalars(select(SystemMeta.value))
               if isinstance(row, dict) and "wrapped" in row]
    usage: dict[str, int] = {}
    for v in values:
        kid = v.split(":", 2)[1] if secrets_wrap.is_wrapped(v) else "clear"
        usage[kid] = usage.get(kid, 0) + 1
    return usage


def drop_master_versions(*, db_session: Session, actor: str | None = None) -> list[str]:
    """Remove every master key version but the current one from the key file; returns the ids dropped.

    Refused (:class:`MasterKeyInUse`, nothing changed) while any stored secret is still wrapped under a version to
    drop, or still clear: dropping it would make that secret unreadable for good. The province key rows are
    locked meanwhile, so a concurrent rotation waits. With ``WLHY_MASTER_KEY`` there is no file: the environment
    variable is edited instead, and nothing is dropped here. Audited.
    """
    db_session.scalars(select(ProvinceKey.id).with_for_update()).all()
    ring = secrets_wrap.keyring(fresh=True)
    old = sorted(k for k in ring.keys if k != ring.current)
    usage = master_key_usage(db_session=db_session)
    still = {k: n for k, n in usage.items() if k != ring.current}
    if still:
        audit.refused(db_session, "master_key_drop_versions", "secrets still wrapped under an old version",
                      username=actor, target=f"master_key:{ring.current}", detail={"stillWrapping": still})
        raise MasterKeyInUse(
            "stored secrets are still wrapped under an old master key version (or clear): "
            + ", ".join(f"{k}: {n}" for k, n in sorted(still.items()))
            + " — re-wrap them first (`wlhy keys rewrap`)")
    if ring.source == "env" or not old:
        return []
    secrets_wrap.drop_versions({ring.current})
    audit.record(db_session, "master_key_drop_versions", username=actor, target=f"master_key:{ring.current}",
                 detail={"dropped": old, "kept": ring.current})
    return old


def decryption_keys(*, db_session: Session, now: dt.datetime | None = None) -> list[str]:
    """Private keys that may open an envelope now: the current one first, then a previous one in its overlap."""
    now = now or utcnow()
    rows = db_session.scalars(select(ProvinceKey).where(ProvinceKey.status.in_(("current", "previous")))).all()
    usable = [k for k in rows if k.status == "current" or (k.retire_after is None or k.retire_after > now)]
    usable.sort(key=lambda k: k.status != "current")
    return [private_key_hex(k) for k in usable]


def wrap_private_key(key_id: str, private_hex: str) -> str:
    """What ``province_key.private_key_wrapped`` holds for the key ``key_id`` (import of an existing key, tests)."""
    return secrets_wrap.wrap(private_hex.encode("ascii"), _context(key_id))


def _context(key_id: str) -> str:
    # Bound into the wrapping (GCM associated data): a wrapped key copied to another row does not open there.
    return f"province_key:{key_id}"


def _new(db_session: Session) -> ProvinceKey:
    private_hex, public_hex = crypto.generate_keypair()
    key_id = utcnow().strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    key = ProvinceKey(key_id=key_id, public_key_hex=public_hex, status="current",
                      private_key_wrapped=wrap_private_key(key_id, private_hex))
    db_session.add(key)
    db_session.flush()
    return key
