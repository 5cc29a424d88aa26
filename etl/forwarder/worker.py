"""The outbox worker: deliver accepted documents to the Ministry, at least once, in order per document.

Rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` so several workers may drain one outbox; a row
stays locked while it is sent, and a crash releases the lock with the row still due, so it is sent again
under the same ``ministry_reference_number`` and the Ministry de-duplicates it.  A document's versions go
out in order: a row is due only when every earlier row of the same document is acknowledged (or dead).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from auth import audit
from core.beijing import wire_datetime
from core.config import Settings
from etl.forwarder.client import ACCEPTED, MinistryAnswer, MinistryClient, MinistryUnavailable
from etl.forwarder.envelope import build_envelope
from store.models import DocumentVersion, Message, Outbox, ProvinceKey
from store.models.base import utcnow

__all__ = [
    "ALREADY_RECEIVED",
    "DONE",
    "DUE",
    "STATUSES",
    "DrainResult",
    "PayloadUnavailable",
    "backlog",
    "backoff_s",
    "claim_due",
    "drain_all",
    "drain_once",
    "payload_for",
    "run_forever",
]

log = logging.getLogger(__name__)

STATUSES = ("pending", "retry", "acked", "dead")
DUE = ("pending", "retry")
DONE = ("acked", "dead")
#: The Ministry's "reference number already used": an earlier delivery of ours got through, so: acked.
ALREADY_RECEIVED = 3001
DEAD_LETTER_ACTION = "outbox_dead_letter"
_KEY_ORDER = case({"current": 0, "previous": 1}, value=ProvinceKey.status, else_=2)
_rng = random.Random()


class PayloadUnavailable(Exception):
    """The row's payload cannot be rebuilt (version missing, archive undecryptable): retrying cannot help."""


@dataclass
class DrainResult:
    """What one drain did: rows claimed, and how each ended (``deferred`` = claimed but left for later)."""

    claimed: int = 0
    acked: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    unavailable: bool = False  # stopped early because the Ministry could not be reached

    def add(self, other: DrainResult) -> None:
        """Accumulate `other` into this result."""
        for f in fields(self):
            if f.name != "unavailable":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.unavailable = self.unavailable or other.unavailable


def backoff_s(attempts: int, *, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before the next try after `attempts` failures: ``base * 2**(attempts-1)``, capped, jittered.

    The jitter draws a factor in [0.75, 1.0] so that workers which failed together do not retry together,
    while each delay still exceeds the previous one (until the cap).

    Examples
    --------
    >>> 7.5 <= backoff_s(2, base_s=5, max_s=600) <= 10
    True
    >>> 450 <= backoff_s(20, base_s=5, max_s=600) <= 600
    True
    """
    delay = min(max_s, base_s * 2.0 ** max(attempts - 1, 0))
    return delay * (rng or _rng).uniform(0.75, 1.0)


def payload_for(session: Session, row: Outbox, *, private_keys: list[str] | None = None) -> dict[str, Any]:
    """The payload to forward for `row`, as the platform sent it (wire keys and wire formats).

    The archived message that carried the version is the exact source: its plain ``body``, or its
    envelope opened with the province keys (current, previous, retired).  Documents whose message is not
    archived (loaded otherwise) or cannot be opened fall back to the stored version
    (``document_version.payload``), whose date-times and dates are put back into the wire formats
    ``YYYYMMDDhhmmss`` / ``YYYYMMDD``.

    Raises
    ------
    PayloadUnavailable
        If neither the message nor the version can be found, or the archived envelope cannot be opened.
    """
    if row.document_kind == "position":
        return _archived_payload(session, row.message_id, private_keys)
    version = session.execute(select(DocumentVersion.payload, DocumentVersion.message_id).where(
        DocumentVersion.kind == row.document_kind, DocumentVersion.document_id == row.document_id,
        DocumentVersion.version == row.document_version)).one_or_none()
    if version is None:
        raise PayloadUnavailable(f"no {row.document_kind} {row.document_id} version {row.document_version}")
    message_id = version.message_id if version.message_id is not None else row.message_id
    if message_id is not None:
        try:
            return _archived_payload(session, message_id, private_keys)
        except PayloadUnavailable as exc:
            log.warning("outbox %s: archive unusable (%s); forwarding the stored version", row.id, exc)
    return _wire_formats(_drop_nulls(version.payload))


def _province_keys(session: Session) -> list[str]:
    """Every province private key, current first (unwrapping each costs: done once per drain, not per row)."""
    from etl.exchange import keys as province_keys

    return [province_keys.private_key_hex(k) for k in session.scalars(
        select(ProvinceKey).order_by(_KEY_ORDER, ProvinceKey.id))]


def _archived_payload(session: Session, message_id: int | None,
                      private_keys: list[str] | None = None) -> dict[str, Any]:
    msg = session.get(Message, message_id) if message_id is not None else None
    if msg is None:
        raise PayloadUnavailable(f"archived message {message_id} not found")
    try:
        if msg.body:
            payload = json.loads(msg.body.lstrip("\ufeff"))
        else:
            from etl.exchange import crypto

            keys = private_keys if private_keys else _province_keys(session)
            opened = crypto.open_envelope(msg.encrypted_code or "", msg.encrypted_content or "", keys)
            payload = json.loads(opened.payload.decode("utf-8-sig"))
    except Exception as exc:  # noqa: BLE001 - any failure to rebuild an archived payload is permanent
        raise PayloadUnavailable(f"message {msg.id}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict):
        raise PayloadUnavailable(f"message {msg.id}: payload is not a JSON object")
    return payload


def claim_due(session: Session, *, now: dt.datetime, limit: int) -> list[Outbox]:
    """Lock up to `limit` due rows (skipping rows other workers hold), oldest first, in document order.

    A row is due when pending/retry, its ``next_attempt_at`` has come, and no earlier row of the same
    document (same kind and id) is still undelivered.  Positions have no document id, so no constraint.
    """
    earlier = aliased(Outbox)
    blocked = (
        select(earlier.id)
        .where(earlier.document_kind == Outbox.document_kind, earlier.document_id == Outbox.document_id,
               earlier.id < Outbox.id, earlier.status.not_in(DONE))
        .exists()
    )
    stmt = (
        select(Outbox)
        .where(Outbox.status.in_(DUE), Outbox.next_attempt_at <= now, ~blocked)
        .order_by(Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Outbox)
    )
    return list(session.scalars(stmt))


def drain_once(
    session_factory: Callable[[], Session],
    client: MinistryClient,
    *,
    now: dt.datetime | None = None,
    limit: int = 100,
) -> DrainResult:
    """Claim and send up to `limit` due rows, one transaction per batch of ``settings.ministry_batch_size``.

    Stops at the first transport failure (the Ministry is down: no point burning the other rows' attempts);
    the rows of that batch not yet tried are released unchanged.

    Parameters
    ----------
    session_factory : callable
        Returns a new :class:`~sqlalchemy.orm.Session` (e.g. a ``sessionmaker``).
    client : MinistryClient
        Its settings give the envelope fields, back-off and ``ministry_max_attempts``.
    now : datetime, optional
        The clock (UTC) used for due times and stamps; tests pass a later one to skip back-off waits.
    """
    now = now or utcnow()
    result = DrainResult()
    while result.claimed < limit and not result.unavailable:
        with session_factory() as session:
            batch = min(client.settings.ministry_batch_size, limit - result.claimed)
            rows = claim_due(session, now=now, limit=batch)
            if not rows:
                session.rollback()
                break
            result.claimed += len(rows)
            keys = _province_keys(session)
            # No autoflush: each row's ``sent_at`` goes out with its answer at the commit, not as an UPDATE of
            # its own before the next row's payload query (a round trip and an ORM flush per document).
            with session.no_autoflush:
                prepared = [(row, env) for row in rows
                            if (env := _prepare(session, client, row, now, result, keys)) is not None]
            # The first alone: when the Ministry is down, the others keep their attempts (deferred).  A batch
            # holds at most one row per document (claim_due), so sending the rest at once keeps each
            # document's versions in order.
            for (row, _env), answer in zip(prepared, _send_all(client, prepared), strict=True):
                if answer is None:  # not sent: the first found the Ministry unreachable
                    result.deferred += 1
                    continue
                _apply(session, client.settings, row, answer, now, result)
            session.commit()
    return result


#: Concurrent sends to the Ministry within one batch (its answers take a round trip each; the CPU work, payload
#: and envelope, is done before, in the worker's thread).
SEND_CONCURRENCY = 8


def _send_all(client: MinistryClient,
              prepared: list[tuple[Outbox, dict[str, Any]]]) -> list[MinistryAnswer | MinistryUnavailable | None]:
    """Each prepared envelope's answer (or the MinistryUnavailable it met); None for those not sent because the
    first one found the Ministry unreachable."""
    def one(env: dict[str, Any]) -> MinistryAnswer | MinistryUnavailable:
        try:
            return client.send(env)
        except MinistryUnavailable as exc:
            return exc

    if not prepared:
        return []
    first = one(prepared[0][1])
    if isinstance(first, MinistryUnavailable) or len(prepared) == 1:
        return [first] + [None] * (len(prepared) - 1)
    client.token()  # log in once before the threads start
    with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, len(prepared) - 1)) as pool:
        return [first, *pool.map(one, [env for _row, env in prepared[1:]])]


def drain_all(
    session_factory: Callable[[], Session],
    client: MinistryClient,
    *,
    now: dt.datetime | None = None,
    max_rounds: int = 1000,
) -> DrainResult:
    """Drain until nothing is due, the Ministry is unreachable, or `max_rounds` drains (CLI and tests)."""
    total = DrainResult()
    for _ in range(max_rounds):
        r = drain_once(session_factory, client, now=now)
        total.add(r)
        if r.claimed == 0 or r.unavailable:
            break
    return total


def run_forever(
    stop_event: threading.Event,
    session_factory: Callable[[], Session],
    client: MinistryClient,
    *,
    idle_sleep_s: float | None = None,
) -> None:
    """Drain until `stop_event` is set, sleeping when there is nothing due or the Ministry is unreachable."""
    idle = client.settings.ministry_idle_sleep_s if idle_sleep_s is None else idle_sleep_s
    while not stop_event.is_set():
        try:
            r = drain_once(session_factory, client)
        except Exception:  # noqa: BLE001 - a worker must outlive one bad drain (DB restart, bad config fix)
            log.exception("outbox drain failed")
            r = DrainResult(unavailable=True)
        if r.claimed == 0 or r.unavailable:
            stop_event.wait(idle)


def backlog(session: Session, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The outbox at a glance: counts per status and per IPCType, and the age of the oldest undelivered row.

    Returns
    -------
    dict
        ``{"by_status": {status: n}, "by_ipc_type": {ipcType: {status: n}}, "undelivered": n,
        "oldest_undelivered_age_s": float | None}``; every status of :data:`STATUSES` is present.
    """
    now = now or utcnow()
    by_status = dict.fromkeys(STATUSES, 0)
    by_type: dict[str, dict[str, int]] = {}
    for status, ipc_type, n in session.execute(
            select(Outbox.status, Outbox.ipc_type, func.count()).group_by(Outbox.status, Outbox.ipc_type)):
        by_status[status] = by_status.get(status, 0) + n
        by_type.setdefault(ipc_type, dict.fromkeys(STATUSES, 0))[status] = n
    oldest = session.scalar(select(func.min(Outbox.created_at)).where(Outbox.status.in_(DUE)))
    return {
        "by_status": by_status,
        "by_ipc_type": by_type,
        "undelivered": sum(by_status[s] for s in DUE),
        "oldest_undelivered_age_s": None if oldest is None else max((now - oldest).total_seconds(), 0.0),
    }


def _prepare(session: Session, client: MinistryClient, row: Outbox, now: dt.datetime, result: DrainResult,
             private_keys: list[str]) -> dict[str, Any] | None:
    """The Ministry envelope of `row`, or None when its payload cannot be rebuilt (then it is dead-lettered)."""
    s = client.settings
    try:
        payload = payload_for(session, row, private_keys=private_keys)
    except PayloadUnavailable as exc:
        row.last_error = str(exc)
        _dead_letter(session, row, now)
        result.dead += 1
        return None
    row.sent_at = now
    return build_envelope(
        payload, ipc_type=row.ipc_type, reference_number=row.ministry_reference_number,
        sender_code=s.ministry_sender_code, public_key_hex=s.ministry_public_key_hex,
        serialisation=s.ministry_serialisation, document_version_number=s.ministry_document_version_number,
        sent_at=now,
    )


def _apply(session: Session, s: Settings, row: Outbox, answer: MinistryAnswer | MinistryUnavailable,
           now: dt.datetime, result: DrainResult) -> None:
    """Record the Ministry's answer to `row` (or the transport failure it met)."""
    if isinstance(answer, MinistryUnavailable):
        result.unavailable = True
        _failed(session, s, row, f"unavailable: {answer}", now, result)
        return
    row.ministry_code, row.ministry_msg = answer.code, answer.msg
    if answer.code in (ACCEPTED, ALREADY_RECEIVED):
        row.status, row.acked_at, row.last_error = "acked", now, None
        result.acked += 1
        return
    detail = f"{answer.code} {answer.msg}"
    if answer.errors:
        detail += " " + json.dumps(answer.errors[:20], ensure_ascii=False)
    _failed(session, s, row, detail, now, result)


def _failed(session: Session, settings: Settings, row: Outbox, error: str, now: dt.datetime,
            result: DrainResult) -> None:
    row.attempts = (row.attempts or 0) + 1
    row.last_error = error[:2000]
    if row.attempts >= settings.ministry_max_attempts:
        _dead_letter(session, row, now)
        result.dead += 1
        return
    row.status = "retry"
    row.next_attempt_at = now + dt.timedelta(
        seconds=backoff_s(row.attempts, base_s=settings.ministry_base_backoff_s,
                          max_s=settings.ministry_max_backoff_s))
    result.retried += 1


def _dead_letter(session: Session, row: Outbox, now: dt.datetime) -> None:
    # The alarms module does not exist yet; an audit_log row plus an error log line stand in for the alarm.
    row.status = "dead"
    audit.record(
        session, DEAD_LETTER_ACTION, username="forwarder", target=f"outbox:{row.id}", outcome="failed",
        detail={"ipcType": row.ipc_type, "documentKind": row.document_kind, "documentId": row.document_id,
                "documentVersion": row.document_version, "reference": row.ministry_reference_number,
                "attempts": row.attempts, "ministryCode": row.ministry_code, "lastError": row.last_error},
    )
    log.error("outbox %s (%s %s:%s) is dead after %s attempts: %s", row.id, row.ipc_type, row.document_kind,
              row.document_id, row.attempts, row.last_error)


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:?\d{2}|Z)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def _wire_formats(obj: Any) -> Any:
    # Stored versions hold parsed values (str(datetime), str(date)); the wire wants Beijing YYYYMMDDhhmmss
    # and YYYYMMDD.  Only ISO-looking strings change, so values already in wire format pass through.
    if isinstance(obj, dict):
        return {k: _wire_formats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_wire_formats(v) for v in obj]
    if isinstance(obj, str):
        if _ISO_DATETIME.match(obj):
            t = dt.datetime.fromisoformat(obj.replace("Z", "+00:00"))
            return wire_datetime(t)
        if _ISO_DATE.match(obj):
            return obj.replace("-", "")
    return obj


def _drop_nulls(obj: Any) -> Any:
    # Stored versions list every model field; an absent optional field goes out absent, not as null.
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj
