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

import datetime as dt
import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from auth import audit, throttle
from core import beijing, safejson
from core.config import get_settings
from etl.exchange import accounts, crypto, keys, tokens
from etl.intake.pipeline import (
    REPEATED_C1_KEY,
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
from etl.schemas.locations import TimeWindow, time_window
from store.anomalies import record as record_anomaly
from store.db import pg
from store.models import Account, Message, Operator
from store.models.base import utcnow

__all__ = ["AUTH_MAX_BODY", "UNAUTHENTICATED_PREFIX", "ExchangeService", "RateLimiter", "Reply", "complete_archived"]

log = logging.getLogger(__name__)

#: ``/exchange/auth`` bodies are two short strings: anything larger is refused unread (2001).
AUTH_MAX_BODY = 4 * 1024
#: What the archive keeps of a message whose sender was not authenticated: the header, the SM3 digest of the whole
#: body, and this many characters of the ciphertext (or of the unparseable body).
UNAUTHENTICATED_PREFIX = 4 * 1024
#: Audit actions the unauthenticated traffic's throttles count (auth.throttle.wait_s).
LOGIN_FAILED = "exchange_login_failed"
SEND_REFUSED = "exchange_send_refused"

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
    retry_after_s: int | None = None  # set on a throttled answer (HTTP 429): the Retry-After header


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
    #: Growing delays after failed logins, per claimed account name (existing or not) and per address, and after
    #: refused unauthenticated sends per address; counted from the audit log (auth.throttle).
    login_account_policy: throttle.Policy = throttle.ACCOUNT
    login_address_policy: throttle.Policy = throttle.ADDRESS
    send_address_policy: throttle.Policy = throttle.ADDRESS
    _secret: bytes | None = None
    _accounts: dict[int, tuple[float, Account, Operator]] = field(default_factory=dict)
    _keys: tuple[float, list[str]] | None = None

    # --- auth -------------------------------------------------------------------------------------------------

    def auth(self, raw: bytes, *, ip: str | None = None) -> Reply:
        """``POST /exchange/auth``: ``{"userName","passWord"}`` → a 2-hour token in ``data``.

        Every refusal is 2001.  Failures are audited (``exchange_login_failed``, whether the account exists or
        not) and throttled with growing delays per account name and per address (HTTP 429, still 2001).
        """
        if len(raw) > AUTH_MAX_BODY:
            return Reply({"code": 2001, "msg": f"请求过大 body larger than {AUTH_MAX_BODY} bytes"}, status=413)
        try:
            creds = safejson.loads(raw, max_depth=get_settings().exchange_max_json_depth)
            user_name, password = creds["userName"], creds["passWord"]
            if not isinstance(user_name, str) or not isinstance(password, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return Reply({"code": 2001, "msg": "请求格式错误: body must be JSON {userName, passWord}"})
        audited_name = _audit_name(user_name)
        with self.session_factory() as session:
            wait = max(throttle.wait_s(session, LOGIN_FAILED, self.login_account_policy, username=audited_name)
                       if audited_name else 0,
                       throttle.wait_s(session, LOGIN_FAILED, self.login_address_policy, ip=ip) if ip else 0)
            if wait:  # not checked, so not a failure either: a rival can delay a login, never lock it out
                return Reply({"code": 2001, "msg": f"登录失败次数过多，请 {wait} 秒后再试 too many failed logins; "
                                                   f"retry in {wait} s"}, status=429, retry_after_s=wait)
            checked = accounts.check(db_session=session, user_name=user_name, password=password)
            if checked.account is None:
                audit.record(session, LOGIN_FAILED, username=audited_name, ip=ip, outcome="refused",
                             detail={"why": checked.refusal})
                session.commit()
                if checked.refusal == "one_time":
                    return Reply({"code": 2001, "msg": "初始密码仅可用于测试通道，请先通过运营账号修改密码 one-time "
                                                       "password: works on the test channel only; set your own "
                                                       "password through your operator login first"})
                return Reply({"code": 2001, "msg": "用户名或密码错误，或账号已停用"})
            ok = checked.account
            audit.record(session, "exchange_login", username=audited_name, ip=ip, target=f"account:{ok.id}")
            session.commit()
            token = tokens.make_token(self._secret_key(session), account_id=ok.id, user_name=ok.user_name,
                                      generation=ok.token_generation or 0)
        return Reply({"code": 1001, "msg": RESULT_MESSAGES[1001], "data": token})

    # --- send -------------------------------------------------------------------------------------------------

    def send(self, raw: bytes, *, ip: str | None = None) -> Reply:
        """``POST /exchange/send``: one enveloped message → its result code.

        Whatever goes wrong after the message is archived, it is finished with a result code (9001 when it is
        our fault) before the answer goes out: no failure leaves an archived message without its code.
        """
        archived: list[int] = []  # ids of the archive rows this request made
        with self.session_factory() as session:
            try:
                return self._send(session, raw, ip, archived)
            except Exception as e:  # the message gets an outcome, the platform its 9001
                session.rollback()
                log.error("send failed after archiving %s: %s", archived, type(e).__name__)
                for message_id in archived:
                    again = session.get(Message, message_id, populate_existing=True)
                    if again is not None and again.result_code is None:
                        finish(session, again, IntakeResult(9001, RESULT_MESSAGES[9001], again.id, errors=[{
                            "field": "", "rule": "internal", "message": type(e).__name__}]), None)
                if not archived:
                    raise
                return Reply({"code": 9001, "msg": RESULT_MESSAGES[9001]}, message_id=archived[-1])

    def _refused_unauthenticated(self, session: Session, ip: str | None, *, header: dict[str, Any],
                                 raw_cols: dict[str, Any], code: int, errors: list[dict[str, str]],
                                 archived: list[int], claimed: str | None) -> Reply:
        """Archive (bounded) and answer a send from a sender not authenticated; audited and throttled per address."""
        wait = throttle.wait_s(session, SEND_REFUSED, self.send_address_policy, ip=ip) if ip else 0
        if wait:  # refused unread: nothing archived, nothing counted (a flood costs one look-up per request)
            return Reply({"code": code, "msg": f"{RESULT_MESSAGES[code]}: too many refused messages from this "
                                               f"address; retry in {wait} s"}, status=429, retry_after_s=wait)
        msg = archive(session, header=_bounded_header(header), operator=None, authenticated=False, raw=raw_cols)
        archived.append(msg.id)
        audit.record(session, SEND_REFUSED, username=_audit_name(claimed), ip=ip, outcome="refused",
                     target=f"message:{msg.id}", detail={"code": code})
        return self._answer(session, msg, code, None, errors)

    def _send(self, session: Session, raw: bytes, ip: str | None, archived: list[int]) -> Reply:
        settings = get_settings()
        if len(raw) > settings.exchange_max_body:
            return Reply({"code": 3004, "msg": f"{RESULT_MESSAGES[3004]}: body larger than "
                                               f"{settings.exchange_max_body} bytes"}, status=413)
        digest = hashlib.new("sm3", raw).hexdigest()
        envelope = _parse_envelope(raw, settings.exchange_max_json_depth)
        if isinstance(envelope, str):
            return self._refused_unauthenticated(
                session, ip, header={}, code=3004, archived=archived, claimed=None,
                raw_cols={"body": raw[:UNAUTHENTICATED_PREFIX].decode("utf-8", "replace"), "digest_sm3": digest},
                errors=[{"field": "root", "rule": "format", "message": envelope}])
        header, body = _storable(envelope[0]), envelope[1]
        user_name = header.get("enterpriseSenderCode") if isinstance(header.get("enterpriseSenderCode"), str) else None
        claims = tokens.read_token(self._secret_key(session), header.get("token")
                                   if isinstance(header.get("token"), str) else None)
        known = self._account(session, claims.account_id) if claims else None
        raw_cols = {"encrypted_code": _storable(_str_or_none(body.get("encryptedCode"))),
                    "encrypted_content": _storable(_str_or_none(body.get("encryptedContent"))), "digest_sm3": digest}
        why = ("token missing, expired or invalid" if known is None else
               "token belongs to another account" if claims.user_name != user_name else
               "account suspended" if known[0].status != "active" else
               "token revoked (account suspended, reset or its password changed since)"
               if claims.generation != (known[0].token_generation or 0) else None)
        if why is not None:
            code_part = (raw_cols["encrypted_code"] or "")[:UNAUTHENTICATED_PREFIX]
            content_part = (raw_cols["encrypted_content"] or "")[:max(0, UNAUTHENTICATED_PREFIX - len(code_part))]
            bounded = {"encrypted_code": code_part or None, "encrypted_content": content_part or None,
                       "digest_sm3": digest}
            return self._refused_unauthenticated(
                session, ip, header=header, raw_cols=bounded, code=2001, archived=archived, claimed=user_name,
                errors=[{"field": "header.token", "rule": "auth", "message": why}])
        account, operator = known
        msg = archive(session, header=header, operator=operator, user_name=account.user_name, account_id=account.id,
                      is_sandbox=account.sandbox, raw=raw_cols)
        archived.append(msg.id)
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
            # The repeated-C1 look-up of the weak-envelope check rides on the lock's statement (C1 as the envelope
            # shows it; _check_envelope_strength uses the answer only if the opened envelope's C1 is the same).
            c1 = _claimed_c1(body.get("encryptedCode"))
            claim(session, msg.id, repeated_c1=None if c1 is None or crypto.is_published_weak_c1(c1) else c1)
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
                found = [keys.private_key_hex(keys.ensure_current(db_session=session))]
                session.commit()
            self._keys = (time.monotonic(), found)
        return self._keys[1]


@dataclass
class _Rejected:
    """Why an envelope cannot be opened: its result code, field errors, and the C1 it seems to carry."""

    code: int
    errors: list[dict[str, str]]
    c1_hex: str | None = None


def _open(header: dict[str, Any], body: dict[str, Any], private_keys: list[str], *,
          token_required: bool = True) -> crypto.OpenedEnvelope | _Rejected:
    """Check the header fields (3004) and open the SM envelope (3006 / 3007)."""
    problems = _header_problems(header, body, token_required=token_required)
    if problems:
        return _Rejected(3004, problems, _claimed_c1(body.get("encryptedCode")))
    try:
        return crypto.open_envelope(body["encryptedCode"], body["encryptedContent"], private_keys)
    except crypto.EnvelopeCodeError as e:
        # Never how many keys the province holds, nor which one failed: only that none opened it.
        why = "encryptedCode cannot be decrypted: no usable province key" if "province key" in str(e) else str(e)
        return _Rejected(3006, [{"field": "body.encryptedCode", "rule": "decrypt", "message": why}],
                         _claimed_c1(body.get("encryptedCode")))
    except crypto.EnvelopeContentError as e:
        return _Rejected(3007, [{"field": "body.encryptedContent", "rule": "decrypt", "message": str(e)}])


def _complete(session: Session, msg: Message, operator: Operator, header: dict[str, Any],
              opened: crypto.OpenedEnvelope | _Rejected) -> IntakeResult:
    """Record a rejected envelope, or check its strength and run the intake core; commits the outcome."""
    if isinstance(opened, _Rejected):
        warnings = []
        if opened.code in (3004, 3006) and opened.c1_hex and crypto.is_published_weak_c1(opened.c1_hex):
            # Not opened, but it shows the library's published point: the client's fix is the same.
            warnings.append(_weak_envelope(session, msg, opened.c1_hex, operator, published=True, repeated=None))
        return finish(session, msg, IntakeResult(opened.code, RESULT_MESSAGES[opened.code], msg.id,
                                                 errors=opened.errors, warnings=warnings), operator)
    warnings = [w for w in (_check_envelope_strength(session, msg, opened.c1_hex, operator),
                            _check_clock(session, msg, header, operator)) if w]
    with time_window(_platform_window()):  # a platform's fixes: only recent days (each day is a partition)
        return process(session, msg, operator=operator, header=header, payload=opened.payload,
                       is_sandbox=msg.is_sandbox, warnings=warnings, message_columns={"c1_hex": opened.c1_hex})


def _platform_window() -> TimeWindow:
    s = get_settings()
    return TimeWindow.around(dt.datetime.now(dt.UTC), max_age=dt.timedelta(days=s.position_max_age_days),
                             max_future=dt.timedelta(seconds=s.position_max_future_s),
                             max_days=s.position_max_days_per_message)


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
    return result.to_wire()  # msg names the first errors' fields and the warnings (pipeline.tell)


#: How a platform fixes a weak envelope (the answer's warning, the anomaly, the joint-test report).
WEAK_ENVELOPE_FIX_ZH = ("每条报文须使用新随机生成的SM2临时密钥k（C1每次不同）；PHP SM2库默认使用源码中公开的固定k，"
                        "任何人都能解出SM4密钥：调用加密时传入随机k或升级到随机k的版本")
WEAK_ENVELOPE_FIX_EN = ("draw a fresh random SM2 ephemeral key k for every message (C1 differs every time); the PHP "
                        "SM2 library's default k is published in its source, so anyone can recover the SM4 key: "
                        "pass a random k or use a version that draws one")


# Straight to psycopg (store.db.pg): every accepted envelope runs it.
_REPEATED_C1 = ("SELECT id FROM message WHERE account_id = %(account_id)s::bigint AND c1_hex = %(c1_hex)s::varchar "
                "AND id <> %(id)s::bigint LIMIT 1")


def _check_envelope_strength(session: Session, msg: Message, c1_hex: str, operator: Operator) -> str | None:
    """Record the message's C1; a published or repeated one flags the message and the account (the warning)."""
    published = crypto.is_published_weak_c1(c1_hex)
    known = session.info.pop(REPEATED_C1_KEY, None)  # looked up with the message's lock (pipeline.claim)
    if published:
        repeated = None
    elif known is not None and known[:2] == (msg.id, c1_hex):
        repeated = known[2]
    else:
        found = pg(session).execute(_REPEATED_C1, {
            "account_id": msg.account_id, "c1_hex": c1_hex, "id": msg.id}).fetchone()
        repeated = found[0] if found else None
    if not (published or repeated):  # ``c1_hex`` is stored with the outcome (one UPDATE of the archive row)
        return None
    return _weak_envelope(session, msg, c1_hex, operator, published=published, repeated=repeated)


def _weak_envelope(session: Session, msg: Message, c1_hex: str, operator: Operator, *, published: bool,
                   repeated: int | None) -> str:
    """Flag a weak envelope: the message, one SEC_WEAK_ENVELOPE per account (refreshed), the answer's warning."""
    msg.c1_hex, msg.weak_envelope = c1_hex, True
    why_zh = "C1为PHP SM2库公开的固定临时公钥" if published else f"C1与报文{repeated}重复"
    why_en = ("C1 is the published fixed ephemeral point of a PHP SM2 library" if published
              else f"C1 repeats the one of message {repeated}")
    if not msg.is_sandbox:  # joint tests: the report names it; the ledger is production's
        record_anomaly(
            session, "SEC_WEAK_ENVELOPE", document_kind="account", document_id=msg.account_id,
            document_key=f"account:{msg.account_id}", operator_id=operator.id,
            reason_zh=f"数字信封强度不足：{why_zh}，对称密钥可被他人解密。整改：{WEAK_ENVELOPE_FIX_ZH}",
            reason_en=f"weak SM2 envelope: {why_en}; anyone can recover the SM4 key. Fix: {WEAK_ENVELOPE_FIX_EN}",
            evidence={"accountId": msg.account_id, "lastMessageId": msg.id,
                      "messageReferenceNumber": msg.message_reference_number, "c1Prefix": c1_hex[:34],
                      "published": published, "repeatsMessage": repeated,
                      "howToFix": {"zh": WEAK_ENVELOPE_FIX_ZH, "en": WEAK_ENVELOPE_FIX_EN}},
        )
    # committed with the message's outcome by ``finish`` (one commit per message after the archive)
    return (f"数字信封不安全（{why_zh}），请每条报文使用随机SM2临时密钥 weak SM2 envelope ({why_en}): "
            "use a random ephemeral key per message")


def _check_clock(session: Session, msg: Message, header: dict[str, Any], operator: Operator) -> str | None:
    """Flag a header time further than the tolerance from our clock (INTAKE_TIME_ORDER, one per account)."""
    text = header.get("messageSendingDateTime")
    try:
        sent = dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=beijing.BEIJING)
    except (TypeError, ValueError):
        return None  # checked as a header field already (3004)
    received = msg.received_at or dt.datetime.now(dt.UTC)  # the archive's time: a message recovered later too
    skew = (sent - received).total_seconds()
    tolerance = get_settings().exchange_clock_skew_s
    if abs(skew) <= tolerance:
        return None
    hours = skew / 3600
    utc_hint = abs(skew + beijing.OFFSET_S) <= tolerance  # sent as UTC: 8 h behind Beijing time
    hint_zh, hint_en = (("，疑似按UTC而非北京时间填写", "; it looks like UTC, not Beijing time (UTC+8)")
                        if utc_hint else ("", ""))
    if not msg.is_sandbox:
        record_anomaly(
            session, "INTAKE_TIME_ORDER", document_kind="account", document_id=msg.account_id,
            document_key=f"clock:account:{msg.account_id}", operator_id=operator.id,
            reason_zh=f"报文发送时间与省平台时钟相差{hours:+.1f}小时（容差{tolerance}秒）{hint_zh}；请校准客户端时钟并使用北京时间",
            reason_en=f"messageSendingDateTime is {hours:+.1f} h from our clock (tolerance {tolerance} s){hint_en}; "
                      "set the client's clock and send Beijing time",
            evidence={"accountId": msg.account_id, "lastMessageId": msg.id, "messageSendingDateTime": text,
                      "receivedAt": received.isoformat(), "skewSeconds": round(skew), "toleranceSeconds": tolerance,
                      "looksLikeUtc": utc_hint},
        )
    return (f"报文发送时间与服务器时间相差{hours:+.1f}小时{hint_zh} messageSendingDateTime is {hours:+.1f} h "
            f"from our clock{hint_en} (stored as sent)")


def _claimed_c1(encrypted_code: Any) -> str | None:
    """The C1 an ``encryptedCode`` seems to start with (``04`` + X + Y, with or without the ``04``), unchecked."""
    if not isinstance(encrypted_code, str):
        return None
    text = encrypted_code.strip().lower()
    c1 = text[:130] if text.startswith("04") else "04" + text[:128]
    return c1 if _HEX_C1.fullmatch(c1) else None  # every accepted envelope: a regex, not a loop over 130 characters


_HEX_C1 = re.compile(r"[0-9a-f]{130}")


def _parse_envelope(raw: bytes, max_depth: int) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """The envelope's header and body, or why there is none (depth checked before the parser runs)."""
    try:
        doc = safejson.loads(raw, max_depth=max_depth)
    except safejson.JsonTooDeep as e:
        return f"envelope is not acceptable JSON: {e}"
    except ValueError:
        return "envelope is not {root:{header,body}} JSON"
    root = doc.get("root") if isinstance(doc, dict) else None
    if not isinstance(root, dict) or not isinstance(root.get("header"), dict) or not isinstance(root.get("body"), dict):
        return "envelope is not {root:{header,body}} JSON"
    return root["header"], root["body"]


def _audit_name(name: str | None) -> str | None:
    """A claimed account name as an audit row can hold it: no NUL, no lone surrogate, at most 64 characters."""
    return (_storable(name.replace("\x00", "\ufffd"))[:64] or None) if name else None


def _storable(v: Any) -> Any:
    """``v`` with lone surrogates (``"\\ud800"`` is valid JSON, not valid UTF-8) replaced, so PostgreSQL takes it."""
    if isinstance(v, str):
        if v.isascii():
            return v
        try:
            v.encode("utf-8")
            return v
        except UnicodeEncodeError:
            return v.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(v, dict):
        return {_storable(k): _storable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_storable(x) for x in v]
    return v


def _bounded_header(header: dict[str, Any]) -> dict[str, Any]:
    """What the archive keeps of an unauthenticated sender's header: the spec's fields, each clipped."""
    out: dict[str, Any] = {}
    for name, (max_len, _pattern) in _HEADER_RULES.items():
        if name == "token" or name not in header:
            continue
        v = header[name]
        out[name] = v[: max(max_len, 64)] if isinstance(v, str) else (
            v if isinstance(v, (int, float, bool)) or v is None else f"<{type(v).__name__}>")
    return out


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
