"""The platform-facing exchange (spec/EXCHANGE.md §1): ``/exchange/auth`` and ``/exchange/send`` without HTTP.

Order of work for a send, so that every message is archived before it is processed and each failure has its
own code: parse the envelope (3004) → check the token against the claimed account (2001) → archive the raw
ciphertext → replay check (3001) → per-account rate limit (3003) → header fields (3004) → open the SM envelope
(3006 / 3007) → weak-envelope check → the intake core (3002 / 3008 / 3005 / 1001).

The message is processed under its archive row's lock (``etl.intake.pipeline.claim``).  A re-send of a reference
whose first arrival never got its outcome (the server or the database died in between) processes that message
now, from its archived envelope or, when that cannot be opened, the re-sent one (:func:`complete_archived`), and
is answered with the outcome; a re-send of a finished message answers 3001 with the first outcome in ``msg``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from etl.exchange import accounts, crypto, keys, tokens
from etl.intake.pipeline import (
    IntakeResult,
    MessageBusy,
    answer_resend,
    archive,
    claim,
    finish,
    outcome_of,
    process,
)
from etl.intake.results import RESULT_MESSAGES
from store.anomalies import record as record_anomaly
from store.models import Account, Message, Operator
from store.models.base import utcnow

__all__ = ["ExchangeService", "RateLimiter", "Reply", "complete_archived"]

_HEADER_RULES: dict[str, tuple[int, str | None]] = {
    # field -> (max length, regex)
    "messageReferenceNumber": (35, None),
    "documentName": (35, None),
    "documentVersionNumber": (17, None),
    "senderCode": (20, None),
    "enterpriseSenderCode": (64, None),
    "messageSendingDateTime": (14, r"^\d{14}$"),
    "ipcType": (16, None),
    "token": (400, None),
}
_ACCOUNT_TTL_S = 5.0  # how long an account's status may be cached (suspension takes effect within this)


@dataclass
class Reply:
    """The JSON answer and its HTTP status (200 for every result code, 429 when rate-limited)."""

    body: dict[str, Any]
    status: int = 200
    message_id: int | None = None


class RateLimiter:
    """Token bucket per account (in this process): ``rate`` messages/s sustained, bursts of ``burst``."""

    def __init__(self, rate: float = 200.0, burst: int = 400):
        self.rate, self.burst = rate, burst
        self._state: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens_left, last = self._state.get(key, (float(self.burst), now))
            tokens_left = min(self.burst, tokens_left + (now - last) * self.rate)
            ok = tokens_left >= 1
            self._state[key] = (tokens_left - 1 if ok else tokens_left, now)
            return ok


@dataclass
class ExchangeService:
    """One per process: the session factory, the token secret, caches of accounts and keys, the rate limiter."""

    session_factory: sessionmaker
    limiter: RateLimiter = field(default_factory=RateLimiter)
    login_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(rate=0.2, burst=10))
    _secret: bytes | None = None
    _accounts: dict[int, tuple[float, Account, Operator]] = field(default_factory=dict)
    _keys: tuple[float, list[str]] | None = None

    # --- auth -------------------------------------------------------------------------------------------------

    def auth(self, raw: bytes) -> Reply:
        """``POST /exchange/auth``: ``{"userName","passWord"}`` → a 2-hour token in ``data``."""
        try:
            creds = json.loads(raw)
            user_name, password = creds["userName"], creds["passWord"]
            if not isinstance(user_name, str) or not isinstance(password, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return Reply({"code": 2001, "msg": "请求格式错误: body must be JSON {userName, passWord}"})
        with self.session_factory() as session:
            account = accounts.get_by_user_name(db_session=session, user_name=user_name)
            if account is not None and not self.login_limiter.allow(-account.id):
                return Reply({"code": 2001, "msg": "登录失败次数过多，请稍后再试 too many failed logins"}, status=429)
            ok = accounts.authenticate(db_session=session, user_name=user_name, password=password)
            if ok is None:
                return Reply({"code": 2001, "msg": "用户名或密码错误，或账号已停用"})
            token = tokens.make_token(self._secret_key(session), account_id=ok.id, user_name=ok.user_name)
        return Reply({"code": 1001, "msg": RESULT_MESSAGES[1001], "data": token})

    # --- send -------------------------------------------------------------------------------------------------

    def send(self, raw: bytes) -> Reply:
        """``POST /exchange/send``: one enveloped message → its result code."""
        with self.session_factory() as session:
            return self._send(session, raw)

    def _send(self, session: Session, raw: bytes) -> Reply:
        digest = hashlib.new("sm3", raw).hexdigest()
        envelope = _parse_envelope(raw)
        if envelope is None:
            msg = archive(session, header={}, operator=None, authenticated=False,
                          raw={"body": raw.decode("utf-8", "replace")[:1_000_000], "digest_sm3": digest})
            return self._answer(session, msg, 3004, None, [{"field": "root", "rule": "format",
                                                            "message": "envelope is not {root:{header,body}} JSON"}])
        header, body = envelope
        user_name = header.get("enterpriseSenderCode") if isinstance(header.get("enterpriseSenderCode"), str) else None
        claims = tokens.read_token(self._secret_key(session), header.get("token")
                                   if isinstance(header.get("token"), str) else None)
        known = self._account(session, claims.account_id) if claims else None
        raw_cols = {"encrypted_code": _str_or_none(body.get("encryptedCode")),
                    "encrypted_content": _str_or_none(body.get("encryptedContent")), "digest_sm3": digest}
        if known is None or claims.user_name != user_name or known[0].status != "active":
            why = ("token missing, expired or invalid" if known is None else
                   "token belongs to another account" if claims.user_name != user_name else "account suspended")
            msg = archive(session, header=header, operator=None, authenticated=False, raw=raw_cols)
            return self._answer(session, msg, 2001, None, [{"field": "header.token", "rule": "auth", "message": why}])
        account, operator = known
        msg = archive(session, header=header, operator=operator, user_name=account.user_name, account_id=account.id,
                      is_sandbox=account.sandbox, raw=raw_cols)
        if msg.duplicate_of is not None:
            private_keys = self._private_keys(session)  # may commit (first key ever): before any lock is taken
            result = answer_resend(session, msg, complete=lambda first: complete_archived(
                session, first, operator=operator, private_keys=private_keys, resent=(msg, header, body)))
            return Reply(_wire(result), message_id=msg.id)
        if not self.limiter.allow(account.id):
            reply = self._answer(session, msg, 3003, operator, [{"field": "", "rule": "rate",
                                 "message": f"more than {self.limiter.rate:g} messages/s; retry later"}])
            reply.status = 429
            return reply
        private_keys = self._private_keys(session)  # may commit: before the lock
        try:
            claim(session, msg.id)
        except MessageBusy:
            return Reply({"code": 3003, "msg": f"{RESULT_MESSAGES[3003]}: message still being processed; retry"},
                         message_id=msg.id)
        if msg.result_code is not None:  # a re-send got to it first and processed it
            return Reply(_wire(outcome_of(msg)), message_id=msg.id)
        return Reply(_wire(_complete(session, msg, operator, header, _open(header, body, private_keys))),
                     message_id=msg.id)

    def _answer(self, session: Session, msg: Message, code: int, operator: Operator | None,
                errors: list[dict[str, str]] | None = None) -> Reply:
        result = finish(session, msg, IntakeResult(code, RESULT_MESSAGES[code], msg.id, errors=errors or []), operator)
        return Reply(_wire(result), message_id=msg.id)

    # --- caches -----------------------------------------------------------------------------------------------

    def forget_account(self, account_id: int) -> None:
        """Drop a cached account now (suspension, promotion); other processes see it within ``_ACCOUNT_TTL_S``."""
        self._accounts.pop(account_id, None)

    def _secret_key(self, session: Session) -> bytes:
        if self._secret is None:
            self._secret = tokens.load_secret(session)
        return self._secret

    def _account(self, session: Session, account_id: int) -> tuple[Account, Operator] | None:
        hit = self._accounts.get(account_id)
        if hit and time.monotonic() - hit[0] < _ACCOUNT_TTL_S:
            return hit[1], hit[2]
        row = session.execute(select(Account, Operator).join(Operator, Operator.id == Account.operator_id)
                              .where(Account.id == account_id)).one_or_none()
        if row is None:
            return None
        session.expunge(row[0])
        session.expunge(row[1])
        self._accounts[account_id] = (time.monotonic(), row[0], row[1])
        return row[0], row[1]

    def _private_keys(self, session: Session) -> list[str]:
        if self._keys is None or time.monotonic() - self._keys[0] > 30:
            found = keys.decryption_keys(db_session=session)
            if not found:
                found = [keys.ensure_current(db_session=session).private_key_hex]
                session.commit()
            self._keys = (time.monotonic(), found)
        return self._keys[1]


@dataclass
class _Rejected:
    """Why an envelope cannot be opened: its result code and field errors."""

    code: int
    errors: list[dict[str, str]]


def _open(header: dict[str, Any], body: dict[str, Any], private_keys: list[str], *,
          token_required: bool = True) -> crypto.OpenedEnvelope | _Rejected:
    """Check the header fields (3004) and open the SM envelope (3006 / 3007)."""
    problems = _header_problems(header, body, token_required=token_required)
    if problems:
        return _Rejected(3004, problems)
    try:
        return crypto.open_envelope(body["encryptedCode"], body["encryptedContent"], private_keys)
    except crypto.EnvelopeCodeError as e:
        return _Rejected(3006, [{"field": "body.encryptedCode", "rule": "decrypt", "message": str(e)}])
    except crypto.EnvelopeContentError as e:
        return _Rejected(3007, [{"field": "body.encryptedContent", "rule": "decrypt", "message": str(e)}])


def _complete(session: Session, msg: Message, operator: Operator, header: dict[str, Any],
              opened: crypto.OpenedEnvelope | _Rejected) -> IntakeResult:
    """Record a rejected envelope, or check its strength and run the intake core; commits the outcome."""
    if isinstance(opened, _Rejected):
        return finish(session, msg, IntakeResult(opened.code, RESULT_MESSAGES[opened.code], msg.id,
                                                 errors=opened.errors), operator)
    _check_envelope_strength(session, msg, opened.c1_hex, operator)
    return process(session, msg, operator=operator, header=header, payload=opened.payload, is_sandbox=msg.is_sandbox)


def complete_archived(
    session: Session,
    msg: Message,
    *,
    operator: Operator,
    private_keys: list[str],
    resent: tuple[Message, dict[str, Any], dict[str, Any]] | None = None,
) -> IntakeResult:
    """Process an archived enveloped message that never got its outcome, from its archive; commits the outcome.

    The caller holds the message's lock (``etl.intake.pipeline.claim``).  `resent` is a re-send of it (its
    archive row, header and body): when the archived envelope cannot be opened but the re-sent one can, the
    re-send becomes the message of record (the first is closed 9001, which frees the reference for it) and is
    processed instead; the returned result then carries the re-send's ``message_id``.
    """
    header = dict(msg.header or {})
    archived = {k: v for k, v in (("encryptedCode", msg.encrypted_code), ("encryptedContent", msg.encrypted_content))
                if v is not None}
    opened = _open(header, archived, private_keys, token_required=False)  # the archive keeps no token
    if isinstance(opened, _Rejected) and resent is not None:
        again, resent_header, resent_body = resent
        other = _open(resent_header, resent_body, private_keys)
        if not isinstance(other, _Rejected):
            msg.result_code, msg.processed_at = 9001, utcnow()
            msg.result_msg = (f"{RESULT_MESSAGES[9001]}: interrupted, and its archived envelope cannot be opened "
                              f"({opened.code}); processed from re-send {again.id}")
            session.flush()  # frees the reference ...
            again.duplicate_of = None  # ... for the re-send, now the message of record
            session.flush()
            return _complete(session, again, operator, resent_header, other)
    return _complete(session, msg, operator, header, opened)


def _wire(result: IntakeResult) -> dict[str, Any]:
    body = result.to_wire()
    if result.errors and result.code != 3005:
        body["msg"] = f"{body['msg']}: {result.errors[0]['message']}"
    return body


def _check_envelope_strength(session: Session, msg: Message, c1_hex: str, operator: Operator) -> None:
    published = crypto.is_published_weak_c1(c1_hex)
    repeated = session.scalar(select(Message.id).where(
        Message.account_id == msg.account_id, Message.c1_hex == c1_hex, Message.id != msg.id).limit(1))
    msg.c1_hex = c1_hex
    msg.weak_envelope = bool(published or repeated)
    if msg.weak_envelope and not msg.is_sandbox:
        why_en = ("C1 is the published fixed ephemeral point of a PHP SM2 library" if published
                  else f"C1 repeats the one of message {repeated}")
        record_anomaly(
            session, "SEC_WEAK_ENVELOPE", document_kind="message", document_id=msg.id,
            document_key=f"message:{msg.id}", operator_id=operator.id,
            reason_zh="SM2 临时公钥C1固定或重复，对称密钥可被他人解密；请改用随机临时密钥",
            reason_en=f"{why_en}: anyone can recover the SM4 key; use a random ephemeral key per message",
            evidence={"c1_prefix": c1_hex[:34], "published": published, "repeats_message": repeated},
        )
    # committed with the message's outcome by ``finish`` (one commit per message after the archive)


def _parse_envelope(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    root = doc.get("root") if isinstance(doc, dict) else None
    if not isinstance(root, dict) or not isinstance(root.get("header"), dict) or not isinstance(root.get("body"), dict):
        return None
    return root["header"], root["body"]


def _header_problems(header: dict[str, Any], body: dict[str, Any], *,
                     token_required: bool = True) -> list[dict[str, str]]:
    out = []
    for name, (max_len, pattern) in _HEADER_RULES.items():
        if name == "token" and not token_required:
            continue
        v = header.get(name)
        if v is None or v == "":
            out.append({"field": f"header.{name}", "rule": "required", "message": "is required"})
        elif not isinstance(v, str):
            out.append({"field": f"header.{name}", "rule": "type", "message": "must be a string"})
        elif pattern and not re.match(pattern, v):
            out.append({"field": f"header.{name}", "rule": "format", "message": "must be YYYYMMDDhhmmss"})
        elif len(v) > max_len:
            out.append({"field": f"header.{name}", "rule": "length", "message": f"at most {max_len} characters"})
    for name in ("encryptedCode", "encryptedContent"):
        if not isinstance(body.get(name), str) or not body.get(name):
            out.append({"field": f"body.{name}", "rule": "required", "message": "is required (a string)"})
    return out


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None
