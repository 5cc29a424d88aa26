"""The intake core: archive → validate → upsert / load positions → outbox, answering a spec result code.

Transport (HTTP, SM envelope) is the caller's business; this takes the decrypted payload.  The raw message is
committed to the archive *before* processing, so nothing accepted — or rejected — is ever lost; processing
runs in a savepoint, so a failure leaves the archive row with code 9001 and no half-written documents.

Processing happens under the archived row's lock (:func:`claim`) and its outcome is committed with it, so a
process or database that dies in between leaves the message archived without a result code and nothing else.
A re-send of that reference then processes it (:func:`answer_resend`) instead of answering 3001, and
``etl.intake.recovery`` finishes the ones nobody re-sends.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import psycopg
from psycopg import pq
from sqlalchemy import bindparam, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value
from sqlalchemy.orm.util import identity_key

from etl.intake.documents import (
    UpsertResult,
    adapt,
    column_param,
    insert_row,
    insert_sql,
    upsert_document,
)
from etl.intake.results import ACCEPTED, RESULT_MESSAGES
from etl.schemas import IPC_TYPES, PayloadShapeError, PositionBatch, validate_payload
from geo import crs
from store import jobs
from store.anomalies import record as record_anomaly
from store.db import commit, pg, safe_error
from store.models import DocumentVersion, ExchangeError, Message, Operator, Outbox
from store.models.base import utcnow
from store.models.exchange import REFERENCE_IN_USE
from store.positions import SOURCE_APP, load_positions

__all__ = [
    "LOCK_WAIT_S",
    "REPEATED_C1_KEY",
    "IntakeResult",
    "MessageBusy",
    "answer_resend",
    "archive",
    "claim",
    "finish",
    "outcome_of",
    "process",
    "receive",
    "replay_result",
    "tell",
]

log = logging.getLogger(__name__)

_HEADER_FIELDS = ("messageReferenceNumber", "documentName", "ipcType")
#: How long a re-send waits for the message it repeats while another transaction is processing that message.
LOCK_WAIT_S = 10.0


class MessageBusy(Exception):
    """Another transaction has held the archived message (it is processing it) for longer than the wait."""


@dataclass
class IntakeResult:
    """The answer to one message (``code``/``msg``/``errors`` go on the wire) and what it did."""

    code: int
    msg: str
    message_id: int | None
    errors: list[dict[str, str]] = field(default_factory=list)
    documents: list[UpsertResult] = field(default_factory=list)
    positions_inserted: int = 0
    #: Told in ``msg`` whatever the code (a list sent as an object, a weak envelope, a clock far off): clients
    #: such as the public Fujian one keep only ``msg`` of an answer.
    warnings: list[str] = field(default_factory=list)
    told: bool = False  # ``msg`` already names the errors and warnings (see :func:`tell`)
    #: Archive columns ``finish`` sets with the outcome (e.g. the envelope's ``c1_hex``): one UPDATE, not two.
    message_columns: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "msg": tell(self)}
        if self.code == 3005:
            out["errors"] = self.errors
        return out


#: How many field errors ``msg`` names (all of them are in ``errors`` and the archive).
MSG_ERRORS = 3


def tell(result: IntakeResult) -> str:
    """The answer's ``msg``: the code's text, the path and reason of the first errors, then any warnings.

    e.g. ``字段校验失败: vehicleInfo[0].vehicleNumber (车牌号): is required; …``.
    """
    if result.told:
        return result.msg
    parts = [result.msg]
    if result.errors:
        named = "; ".join(_error_text(e) for e in result.errors[:MSG_ERRORS])
        more = len(result.errors) - MSG_ERRORS
        parts.append(f": {named}" + (f" (+{more} more / 另有{more}项, see errors)" if more > 0 else ""))
    if result.warnings:
        parts.append(" | 警告 warning: " + "; ".join(result.warnings))
    return "".join(parts)


def _error_text(e: dict[str, str]) -> str:
    """``field (中文名): reason`` from a FieldError dict whose message starts with the field's own label."""
    where, why = e.get("field") or "", (e.get("message") or e.get("rule") or "")[:200]
    if not where:
        return why
    last = where.rsplit(".", 1)[-1]
    if why.startswith(last + " "):  # "vehicleNumber (车牌号) is required" → "(车牌号)", "is required"
        why = why[len(last) + 1:]
        if why.startswith("(") and ") " in why:
            label, why = why.split(") ", 1)
            return f"{where} {label}): {why}"
    return f"{where}: {why}"


def receive(
    session: Session,
    *,
    operator: Operator,
    header: dict[str, Any],
    payload: bytes | str | dict,
    user_name: str | None = None,
    account_id: int | None = None,
    is_sandbox: bool = False,
    channel: str = "exchange",
) -> IntakeResult:
    """Archive and process one plain (already decrypted) message for ``operator``.

    Parameters
    ----------
    header : dict
        The envelope header with wire names (``messageReferenceNumber``, ``documentName``, ``ipcType``, …).
    payload : bytes, str or dict
        The decrypted JSON payload; archived as the message ``body``.
    """
    body = payload if isinstance(payload, str) else (
        payload.decode("utf-8", "replace") if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False))
    msg = archive(session, header=header, operator=operator, user_name=user_name, account_id=account_id,
                  is_sandbox=is_sandbox, channel=channel, raw={"body": body})
    if msg.duplicate_of is not None:
        # The payload in hand is the re-sent one, intact (the archived body had any U+0000 replaced).
        return answer_resend(session, msg, complete=lambda first: process(
            session, first, operator=operator, header=header, payload=payload, is_sandbox=first.is_sandbox))
    try:
        claim(session, msg.id)
    except MessageBusy:
        return IntakeResult(3003, f"{RESULT_MESSAGES[3003]}: message still being processed; retry", msg.id)
    if msg.result_code is not None:  # a re-send got to it first and processed it
        return outcome_of(msg)
    return process(session, msg, operator=operator, header=header, payload=payload, is_sandbox=is_sandbox)


def archive(
    session: Session,
    *,
    header: dict[str, Any],
    operator: Operator | None,
    raw: dict[str, Any],
    user_name: str | None = None,
    account_id: int | None = None,
    is_sandbox: bool = False,
    channel: str = "exchange",
    authenticated: bool = True,
) -> Message:
    """Commit the raw message to the archive before anything else; a replayed reference gets ``duplicate_of``.

    ``raw`` holds the wire body columns: ``body`` (plain payload) or ``encrypted_code``/``encrypted_content``
    (+ ``digest_sm3``, ``c1_hex``, ``weak_envelope``).  A message whose sender is not authenticated is archived
    without ``user_name`` (the claimed one stays in ``header``), so it can neither use up nor replay a reference
    number of the real account.
    """
    user_name = (user_name or header.get("enterpriseSenderCode")) if authenticated else None
    ref = _fit("message_reference_number", header.get("messageReferenceNumber")) or None

    def build(first: int | None) -> dict[str, Any]:
        # Whatever a sender puts in the header must fit the archive: clip to the column, drop NULs.
        return dict(
            account_id=account_id, operator_id=operator.id if operator else None, user_name=_fit("user_name", user_name),
            message_reference_number=ref,
            ipc_type=_fit("ipc_type", header.get("ipcType")), document_name=_fit("document_name", header.get("documentName")),
            sender_code=_fit("sender_code", header.get("senderCode")),
            sent_at_text=_fit("sent_at_text", header.get("messageSendingDateTime")),
            header=_no_nul({k: v for k, v in header.items() if k != "token"}), is_sandbox=is_sandbox, channel=channel,
            duplicate_of=first, **{k: _no_nul(v) for k, v in raw.items()},
        )

    # The partial unique index on (user_name, reference) decides replays: try the insert, and only when it
    # collides look up the first arrival (saves a query on every ordinary message).
    values = build(None)
    conn = pg(session)
    try:
        if conn.info.transaction_status == pq.TransactionStatus.IDLE:
            # One round trip instead of three (BEGIN, INSERT, COMMIT): the INSERT commits by itself, and the
            # session keeps its connection for the processing (no return to the pool and checkout in between).
            # A session whose transaction has begun on the server (tests, callers' own) commits it instead.
            row = _archive_insert_autocommit(conn, values)
        else:
            row = _archive_insert(conn, values)
            session.commit()
    except (IntegrityError, psycopg.errors.UniqueViolation):
        session.rollback()
        values = build(_first_with_reference(session, user_name, ref))
        row = _archive_insert(pg(session), values)
        session.commit()
    return _persistent(session, {**_ARCHIVE_EMPTY, **values, **row})


# Straight to psycopg (no ORM flush, no Session.execute: the archive is written for every message); it returns
# what the server fills in, so the Message handed back is complete without another query.
_ARCHIVE_RETURNS = ("id", "received_at", "weak_envelope", "is_sandbox", "channel")
_ARCHIVE_EMPTY = dict.fromkeys(c.key for c in Message.__table__.columns)


def _archive_insert(conn: psycopg.Connection, values: dict[str, Any]) -> dict[str, Any]:
    cur = conn.execute(insert_sql(Message.__table__, tuple(values), ", ".join(_ARCHIVE_RETURNS)), adapt(values))
    return dict(zip(_ARCHIVE_RETURNS, cur.fetchone(), strict=True))


def _archive_insert_autocommit(conn: psycopg.Connection, values: dict[str, Any]) -> dict[str, Any]:
    """The archive INSERT committed by itself, on an idle connection that then goes on as before."""
    conn.autocommit = True
    try:
        return _archive_insert(conn, values)
    finally:
        try:
            conn.autocommit = False
        except psycopg.Error:  # the connection broke: the pool discards it; the INSERT's own error is the one told
            pass


def _persistent(session: Session, columns: dict[str, Any]) -> Message:
    """The archived row as a Message in ``session`` (as if loaded: every column set, nothing to flush)."""
    # Filled as a load fills it, without the constructor's attribute events (a third of the archive's Python).
    msg = Message.__mapper__.class_manager.new_instance()
    instance_dict(msg).update(columns)
    make_transient_to_detached(msg)
    session.add(msg)
    return msg


def _first_with_reference(session: Session, user_name: str | None, ref: str | None) -> int | None:
    if not ref or not user_name:
        return None
    return session.scalar(select(Message.id).where(
        Message.user_name == user_name, Message.message_reference_number == ref, text(REFERENCE_IN_USE)))


#: What anyone changes on an archived message after its INSERT: the outcome (``finish``), the envelope's flags, and
#: ``duplicate_of`` (a re-send made the message of record, ``etl.exchange.service.complete_archived``).  The rest —
#: the sender, the header's fields, the payload (up to megabytes for a batch of fixes) — is never changed.
_OUTCOME_COLUMNS = ("c1_hex", "weak_envelope", "result_code", "result_msg", "errors", "document_count",
                    "duplicate_of", "processed_at")
_CLAIM_SKIP_LOCKED_OUTCOME = (f"SELECT {', '.join(_OUTCOME_COLUMNS)} FROM message WHERE id = %(id)s::bigint "
                              "FOR NO KEY UPDATE SKIP LOCKED")
# The same, with the exchange's repeated-C1 look-up (etl.exchange.service) in it: one round trip instead of two.
_CLAIM_SKIP_LOCKED_OUTCOME_C1 = (
    f"SELECT {', '.join(_OUTCOME_COLUMNS)}, (SELECT o.id FROM message o WHERE o.account_id = message.account_id "
    "AND o.c1_hex = %(c1_hex)s::varchar AND o.id <> message.id LIMIT 1) "
    "FROM message WHERE id = %(id)s::bigint FOR NO KEY UPDATE SKIP LOCKED")
#: ``session.info`` key: ``(message id, c1_hex, id of another message of the account with that C1 or None)``, what
#: :func:`claim` found when given ``repeated_c1`` (the look-up ``etl.exchange.service`` would otherwise make).
REPEATED_C1_KEY = "etl.intake.repeated_c1"
# Built once: the fast path of every message (a statement built per call costs a new cache key every time).
_CLAIM_SKIP_LOCKED = (select(Message).where(Message.id == bindparam("id"))
                      .with_for_update(key_share=True, skip_locked=True).execution_options(populate_existing=True))


def claim(session: Session, message_id: int, *, wait_s: float | None = None,
          repeated_c1: str | None = None) -> Message | None:
    """Lock archived message `message_id` for processing (a row lock, held until this transaction ends).

    Whoever holds this lock while the message has no result code is the one that processes it: the request that
    archived it, a re-send of it, or the recovery sweep; each re-reads the message after getting the lock, and
    ``finish`` records the outcome in the same transaction, so a message is processed once.  Call it after the
    archive's commit and before any other commit of the transaction.  Returns the message, refreshed.  The lock is
    ``FOR NO KEY UPDATE``: it does not hold up the archiving of re-sends, whose ``duplicate_of`` references it.

    `repeated_c1` (an envelope's C1, hex): on the fast path, also look up another message of the same account with
    that C1, in the same statement; the answer goes to ``session.info[REPEATED_C1_KEY]``.

    Raises
    ------
    MessageBusy
        If another transaction holds the message for longer than `wait_s` (default :data:`LOCK_WAIT_S`); the
        transaction is rolled back.
    """
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    session.info.pop(REPEATED_C1_KEY, None)
    # Fast path, one round trip: a message nobody else holds (nearly always: the one this request just archived).
    held = session.identity_map.get(identity_key(Message, message_id))
    if held is not None and not inspect(held).expired_attributes:
        # The message this request has just archived: lock and refresh only what others may have changed.
        if repeated_c1 is None:
            row = pg(session).execute(_CLAIM_SKIP_LOCKED_OUTCOME, {"id": message_id}).fetchone()
        else:
            row = pg(session).execute(_CLAIM_SKIP_LOCKED_OUTCOME_C1, {"id": message_id, "c1_hex": repeated_c1}).fetchone()
            if row is not None:
                session.info[REPEATED_C1_KEY] = (message_id, repeated_c1, row[-1])
                row = row[:-1]
        if row is not None:
            for name, value in zip(_OUTCOME_COLUMNS, row, strict=True):
                set_committed_value(held, name, value)
            return held
    else:
        msg = session.scalars(_CLAIM_SKIP_LOCKED, {"id": message_id}).one_or_none()
        if msg is not None:
            return msg
    session.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": f"{max(int(wait_s * 1000), 1)}ms"})
    try:
        msg = session.scalars(select(Message).where(Message.id == message_id).with_for_update(key_share=True)
                              .execution_options(populate_existing=True)).one_or_none()
    except OperationalError as e:
        if getattr(e.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        session.rollback()
        raise MessageBusy(message_id) from None
    session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))  # not for the processing that follows
    return msg


def answer_resend(
    session: Session, resend: Message, *, complete: Callable[[Message], IntakeResult], wait_s: float | None = None
) -> IntakeResult:
    """Answer a message archived as a re-send of a reference in use (``duplicate_of`` is its first arrival).

    A first arrival that has its outcome: 3001, with that outcome in ``msg`` (nothing is processed again).  One
    without (whoever was processing it died between its archive and its outcome): processed now, under its row
    lock, by ``complete(first)`` — which records and commits the first's outcome, or makes the re-send the message
    of record and returns the re-send's — and the re-send is answered, and archived, with that outcome.  A first
    that another transaction is processing is waited for (`wait_s`, default :data:`LOCK_WAIT_S`), then answered
    3001; past the wait, 3003 (retry later).
    """
    first = session.get(Message, resend.duplicate_of, populate_existing=True)
    if first is not None and first.result_code is None:
        try:
            claim(session, first.id, wait_s=wait_s)
        except MessageBusy:
            return finish(session, resend, IntakeResult(
                3003, f"{RESULT_MESSAGES[3003]}: message {first.id} still being processed; retry", resend.id), None)
        if first.result_code is None:
            result = complete(first)  # commits the outcome, which releases the lock
            if result.message_id != resend.id:
                finish(session, resend, IntakeResult(
                    result.code, f"{result.msg} (re-send; interrupted message {first.id} processed now)", resend.id),
                    None)
            return result
        session.rollback()  # it got its outcome while we waited: let go of the lock
    return finish(session, resend, replay_result(first, resend.id), None)


def replay_result(first: Message | None, message_id: int | None) -> IntakeResult:
    """3001 for a re-send of a used reference, with the first arrival's outcome in ``msg`` when it has one."""
    if first is None or first.result_code is None:
        return IntakeResult(3001, RESULT_MESSAGES[3001], message_id)
    told = f"{first.result_code} {first.result_msg or RESULT_MESSAGES.get(first.result_code, '')}".strip()
    return IntakeResult(3001, f"{RESULT_MESSAGES[3001]}: 原报文已处理，结果 {told} (first arrival answered {told})",
                        message_id)


def outcome_of(msg: Message) -> IntakeResult:
    """The recorded outcome of a finished message, as it was answered."""
    return IntakeResult(msg.result_code, msg.result_msg or RESULT_MESSAGES.get(msg.result_code, ""), msg.id,
                        errors=list(msg.errors or []), told=msg.result_msg is not None)


def _fit(column: str, v: Any) -> str | None:
    if v is None:
        return None
    return _no_nul(str(v))[: Message.__table__.c[column].type.length]


def _no_nul(v: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold U+0000; replace it (recursively) with U+FFFD."""
    if isinstance(v, str):
        return v.replace("\x00", "\ufffd") if "\x00" in v else v
    if isinstance(v, dict):
        return {_no_nul(k): _no_nul(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_no_nul(x) for x in v]
    return v


def process(
    session: Session, msg: Message, *, operator: Operator, header: dict[str, Any], payload, is_sandbox: bool = False,
    warnings: list[str] | None = None, message_columns: dict[str, Any] | None = None,
) -> IntakeResult:
    """Validate and store an archived message's payload; record and commit the outcome (``warnings`` go into its
    ``msg``, ``message_columns`` into its archive row with the outcome)."""
    result = _process(session, msg, operator, header, payload, is_sandbox)
    result.warnings[:0] = warnings or []
    result.message_columns.update(message_columns or {})
    return finish(session, msg, result, operator)


def _process(session: Session, msg: Message, operator: Operator, header: dict[str, Any], payload,
             is_sandbox: bool) -> IntakeResult:
    missing = [f for f in _HEADER_FIELDS if not header.get(f)]
    if missing:
        return _reject(msg, 3004, [{"field": f"header.{f}", "rule": "required", "message": "is required"}
                                   for f in missing])
    spec = IPC_TYPES.get(header["ipcType"])
    if spec is None or header["documentName"] not in spec.document_names:
        what = "unknown ipcType" if spec is None else f"documentName does not match {header['ipcType']}"
        return _reject(msg, 3002, [{"field": "header.ipcType", "rule": "code", "message": what}])
    if _has_nul(payload):
        # PostgreSQL text cannot hold U+0000; no field of the spec can contain it either.
        return _reject(msg, 3005, [{"field": "", "rule": "format", "message": "payload contains U+0000"}])
    try:
        checked = validate_payload(spec.ipc_type, payload)
    except PayloadShapeError as e:
        return _reject(msg, 3008, [{"field": "", "rule": "type", "message": str(e)}])
    shape = [w.message for w in checked.warnings if w.rule == "shape"]
    if not checked.ok:
        rejected = _reject(msg, 3005, [e.to_dict() for e in checked.errors])
        rejected.warnings += shape
        return rejected

    result = IntakeResult(ACCEPTED, RESULT_MESSAGES[ACCEPTED], msg.id, warnings=shape)
    # The processing's SAVEPOINT, straight to psycopg like the statements it wraps (Session.begin_nested costs a
    # tenth of a message's Python).  pg() flushes pending ORM changes first (a weak envelope's flags on ``msg``), so
    # they stay outside it, as begin_nested's flush kept them; what the ORM changes inside it (a correction)
    # is under an ORM savepoint of its own (etl.intake.documents), which expires it on failure.
    conn = pg(session)
    try:
        conn.execute(_SAVEPOINT)
        if spec.kind == "position":
            # Joint-test fixes are validated and answered, never stored: ``position`` is what statistics and
            # verification read, and sandbox data must not mix with production data (the message archive
            # keeps what was sent).
            changed = not is_sandbox
            if changed:
                result.positions_inserted = _load_batch(session, checked.model, operator, msg.id)
        else:
            wire = checked.model.model_dump(by_alias=True)
            up = upsert_document(session, spec.kind, wire, operator=operator, message_id=msg.id,
                                 is_sandbox=is_sandbox, as_received=checked.data, defer_version=True)
            result.documents.append(up)
            changed = up.status != "unchanged"
            for w in checked.warnings:  # other warnings (e.g. a bank code we do not list) are advisory
                if w.rule == "checksum":
                    _checksum_anomaly(session, operator, spec.kind, up, w.to_dict())
        doc = result.documents[0] if result.documents else None
        if changed and not is_sandbox:
            # One statement, straight to psycopg: the document's version, the outbox row, the document rules'
            # job (supervision.rules, run in the worker, off the acknowledgement's path).
            insert_row(session, Outbox.__table__, {
                "message_id": msg.id, "ipc_type": spec.ipc_type, "document_kind": spec.kind,
                "document_id": doc.document_id if doc else None, "document_version": doc.version if doc else None,
                "ministry_reference_number": uuid.uuid4().hex,
            }, before=((DocumentVersion.__table__, doc.version_row),) if doc else (),
                then=_document_rules_job(spec.kind, doc.document_id) if doc else None)
        elif doc is not None and doc.version_row is not None:  # a joint-test document: its version only
            insert_row(session, DocumentVersion.__table__, doc.version_row)
        # Not released: the outcome's statements follow in the same transaction and its commit ends the savepoint
        # with it (one round trip less); nothing after this rolls back to it.
    except Exception as e:  # noqa: BLE001 - any failure of processing is a 9001 with the archive kept
        log.error("intake of message %s failed: %s", msg.id, safe_error(e))  # no payload values in logs
        try:  # none of the document stays
            conn.execute(_ROLLBACK_TO)
        except Exception as again:  # noqa: BLE001 - the connection is gone: finish fails, the caller answers 9001
            log.error("intake of message %s: rollback of its processing failed: %s", msg.id, safe_error(again))
        return IntakeResult(9001, RESULT_MESSAGES[9001], msg.id)
    return result


_SAVEPOINT, _ROLLBACK_TO = "SAVEPOINT intake_processing", "ROLLBACK TO SAVEPOINT intake_processing"


# The waybills a fund flow pays, in its notes' order (none yet: no job), as the job's payload.
_PAID_WAYBILLS = ("SELECT jsonb_build_object('waybill_ids', jsonb_agg(waybill_id ORDER BY id)) AS payload "
                  "FROM fund_flow_waybill WHERE fund_flow_id = %(job_document_id)s::bigint AND waybill_id IS NOT NULL "
                  "HAVING count(*) > 0")
_ENQUEUE_DOCUMENT_RULES = jobs.enqueue_sql()
_ENQUEUE_PAID_WAYBILLS_RULES = jobs.enqueue_sql(_PAID_WAYBILLS)


def _document_rules_job(kind: str, document_id: int) -> tuple[str, dict[str, Any]]:
    """The statement that queues the document rules (supervision.rules) of a new document version: for a waybill,
    for the waybills a fund flow pays, for the waybills naming a vehicle or driver report (``insert_row``'s
    ``then``)."""
    params: dict[str, Any] = {"job_kind": jobs.KIND_DOCUMENT_RULES, "job_key": f"{kind}:{document_id}"}
    if kind == "fund_flow":
        return _ENQUEUE_PAID_WAYBILLS_RULES, {**params, "job_document_id": document_id}
    ids = "waybill_ids" if kind == "waybill" else f"{kind}_report_ids"
    return _ENQUEUE_DOCUMENT_RULES, {**params, "job_payload": {ids: [document_id]}}


def _has_nul(payload: bytes | str | dict) -> bool:
    text = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return ("\\u0000" in text or "\x00" in text) if isinstance(text, str) else (b"\\u0000" in text or b"\x00" in text)


def _load_batch(session: Session, batch: PositionBatch, operator: Operator, message_id: int) -> int:
    """Write a batch's fixes as ``operator``'s (the key includes the reporting operator: nobody else's fix with the
    same vehicle and time suppresses or replaces them)."""
    cols = batch.locations
    lon, lat = crs.to_wgs84(cols.longitude, cols.latitude, batch.coordinate_system)
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    note = batch.shipping_note_infos[0] if batch.shipping_note_infos else None
    conn = session.connection().connection.driver_connection
    return load_positions(conn, {
        "t": cols.time_utc,
        "vehicle_number": batch.vehicle_number,
        "plate_color": batch.vehicle_plate_color_code,
        "source": SOURCE_APP,
        "lon": lon,
        "lat": lat,
        "speed_kmh": cols.speed_kmh,
        "direction": cols.direction_deg,
        "altitude_m": cols.altitude_m,
        "accuracy_m": cols.accuracy_m,
        "driving_license": batch.driving_license,
        "operator_id": operator.id,
        "shipping_note_number": note.shipping_note_number if note else None,
        "serial_number": note.serial_number if note else None,
        "declared_crs": crs.SYSTEMS.index(batch.coordinate_system),
        "message_id": message_id,
    })


def _checksum_anomaly(session: Session, operator: Operator, kind: str, up: UpsertResult, w: dict[str, str]) -> None:
    record_anomaly(
        session, "QUAL_ID_CHECKSUM", document_kind=kind, document_id=up.document_id,
        document_key=f"{kind}:{up.document_id}:{w['field']}", operator_id=operator.id,
        reason_zh=f"{w['field']} 校验位错误", reason_en=f"{w['field']}: {w['message']}",
        evidence={"field": w["field"], "rule": w["rule"]},
    )


def _reject(msg: Message, code: int, errors: list[dict[str, str]]) -> IntakeResult:
    return IntakeResult(code, RESULT_MESSAGES[code], msg.id, errors=errors)


@cache
def _finish_sql(names: tuple[str, ...]) -> str:
    sets = ", ".join(f"{n} = {column_param(Message.__table__, n)}" for n in names)
    return f"UPDATE message SET {sets} WHERE id = %(id)s::bigint"


def finish(session: Session, msg: Message, result: IntakeResult, operator: Operator | None) -> IntakeResult:
    """Record a message's outcome (result, errors, INTAKE_REJECTED) and commit."""
    result.msg, result.told = tell(result), True  # stored as answered: a re-send's 3001 repeats it
    outcome = {**result.message_columns, "result_code": result.code, "result_msg": result.msg,
               "errors": result.errors or None,
               "document_count": len(result.documents) or (1 if result.positions_inserted else 0),
               "processed_at": utcnow()}
    # A prebuilt Core UPDATE (no ORM flush on every message); the object in hand shows the outcome as stored.
    # Anything else changed on it (a weak envelope's flags) is flushed by the commit below.
    pg(session).execute(_finish_sql(tuple(outcome)), {"id": msg.id, **adapt(outcome)})
    for name, value in outcome.items():
        set_committed_value(msg, name, value)
    for e in result.errors:
        session.add(ExchangeError(message_id=msg.id, result_code=result.code, field=e.get("field"),
                                  rule=e.get("rule"), message=e.get("message", "")))
    # A replay (3001) is not counted: its first arrival already has its answer and nothing was lost.
    if result.code not in (ACCEPTED, 3001) and not msg.is_sandbox and operator is not None:
        record_anomaly(
            session, "INTAKE_REJECTED", document_kind="message", document_id=msg.id, document_key=f"message:{msg.id}",
            operator_id=operator.id, reason_zh=f"报文被拒收：{result.code} {result.msg}",
            reason_en=f"message rejected with {result.code}", evidence={"errors": result.errors[:20]},
        )
    commit(session)  # session.commit(), straight to psycopg when the session owns its transaction
    return result
