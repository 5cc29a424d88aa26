"""Access authentication (接入认证, D2) and joint testing (联调测试, D1) of platforms.

An applicant's road-transport licence and credit code are checked against the 运政 registry before an access
account is issued in sandbox mode; its messages then make a joint-test report, and an administrator switches
the account to production once the report passes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import audit
from core import beijing
from core.errors import InvalidInputError, UnavailableError
from etl.adapters import YunzhengClient
from etl.adapters.errors import AdapterError
from etl.exchange import accounts, crypto, keys
from etl.exchange.service import WEAK_ENVELOPE_FIX_EN, WEAK_ENVELOPE_FIX_ZH
from etl.intake.documents import upsert_operator
from etl.schemas import IPC_TYPES, usci_valid
from store.models import Account, AppUser, JointTest, Message, Operator
from store.models.base import utcnow

__all__ = [
    "MAX_ERROR_RATE",
    "ApplicationRefused",
    "Issued",
    "RegistryUnavailable",
    "apply",
    "joint_test_report",
    "open_joint_test",
    "promote",
]

MAX_ERROR_RATE = 0.01  # the Zhejiang acceptance gate: intake anomaly rate below 1 %
_WEAK_FIX = f"{WEAK_ENVELOPE_FIX_ZH}; {WEAK_ENVELOPE_FIX_EN}"


class ApplicationRefused(InvalidInputError):
    """The registry does not confirm the applicant; ``reasons`` says why, in Chinese and English."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons), detail={"refused": True, "reasons": reasons})
        self.reasons = reasons


class RegistryUnavailable(UnavailableError):
    """The 运政 registry could not be asked; try again later."""


@dataclass(frozen=True)
class Issued:
    """What an accepted applicant receives (the password only this once)."""

    operator_id: int
    user_name: str
    password: str
    province_public_key: str
    sandbox: bool


def apply(db_session: Session, application: dict[str, Any], *, registry: YunzhengClient,
          today: dt.date | None = None, by: int | None = None, ip: str | None = None) -> Issued:
    """Check an applicant (wire names: name, unifiedSocialCreditIdentifier, permitNumber, …) and issue its account.

    A refused application is an audit row (``access_application``, outcome ``refused``) naming ``by``.
    """
    try:
        return _apply(db_session, application, registry=registry, today=today or beijing.today())
    except ApplicationRefused as e:
        person = db_session.get(AppUser, by) if by is not None else None
        audit.refused(db_session, "access_application", e, user_id=by, username=person.username if person else None,
                      role=person.role if person else None, ip=ip,
                      target=f"usci:{str(application.get('unifiedSocialCreditIdentifier') or '')[:18]}")
        raise


def _apply(db_session: Session, application: dict[str, Any], *, registry: YunzhengClient, today: dt.date) -> Issued:
    usci = str(application.get("unifiedSocialCreditIdentifier") or "")
    permit = str(application.get("permitNumber") or "")
    reasons = []
    if not usci_valid(usci):
        reasons.append(f"统一社会信用代码校验失败 unifiedSocialCreditIdentifier {usci!r} fails the GB 32100 check")
    if not permit:
        reasons.append("缺少道路运输经营许可证号 permitNumber is required")
    if reasons:
        raise ApplicationRefused(reasons)
    try:
        licence = registry.get_operator_licence(permit)
    except AdapterError as e:
        raise RegistryUnavailable(f"运政系统暂不可用 the road-transport registry is unavailable: {e}") from e
    if licence is None:
        raise ApplicationRefused([f"运政系统中无此经营许可证 licence {permit} is not in the road-transport registry"])
    if licence.usci and licence.usci != usci:
        reasons.append(f"许可证持有人信用代码不符 the licence belongs to {licence.usci}, not {usci}")
    if not licence.is_valid_on(today):
        reasons.append(f"经营许可证无效 licence status {licence.status}, valid {licence.valid_from}–{licence.valid_to}, "
                       f"not valid on {today:%Y-%m-%d}")
    if reasons:
        raise ApplicationRefused(reasons)
    operator = upsert_operator(db_session, application | {"name": application.get("name") or licence.holder})
    issued = accounts.issue(db_session=db_session, operator=operator, sandbox=True)
    key = keys.ensure_current(db_session=db_session)
    return Issued(operator.id, issued.account.user_name, issued.password, key.public_key_hex, True)


def open_joint_test(db_session: Session, *, user_name: str, opened_by: int | None = None,
                    ip: str | None = None) -> JointTest:
    """Open a joint-test session for a sandbox account (its messages from now on make the report). Audited
    (``joint_test_open``), a refusal too."""
    person = db_session.get(AppUser, opened_by) if opened_by is not None else None
    who = {"user_id": opened_by, "username": person.username if person else None,
           "role": person.role if person else None, "ip": ip}
    account = accounts.get_by_user_name(db_session=db_session, user_name=user_name)
    refusal = (f"no account {user_name!r}" if account is None else
               f"account {user_name!r} is already in production" if not account.sandbox else None)
    if refusal:
        audit.refused(db_session, "joint_test_open", refusal, target=f"account:{user_name}", **who)
        raise accounts.AccountError(refusal)
    jt = JointTest(account_id=account.id, opened_by=opened_by)
    db_session.add(jt)
    db_session.flush()
    audit.record(db_session, "joint_test_open", target=f"joint_test:{jt.id}", detail={"account": user_name}, **who)
    return jt


@dataclass
class _TypeReport:
    sent: int = 0
    accepted: int = 0
    errors: dict[int, dict[str, Any]] = field(default_factory=dict)


def joint_test_report(db_session: Session, joint_test_id: int) -> dict[str, Any] | None:
    """The conformance report: per message type sent, accepted, each error code with examples; weak envelopes."""
    jt = db_session.get(JointTest, joint_test_id)
    if jt is None:
        return None
    account = db_session.get(Account, jt.account_id)
    rows = db_session.scalars(
        select(Message).where(Message.account_id == jt.account_id, Message.received_at >= jt.opened_at,
                              Message.duplicate_of.is_(None))
        .where(Message.received_at <= (jt.closed_at or utcnow())).order_by(Message.id)
    ).all()
    per_type = {ipc: _TypeReport() for ipc in IPC_TYPES}
    other = _TypeReport()
    weak = []
    for m in rows:
        rep = per_type.get(m.ipc_type or "", other)
        rep.sent += 1
        if m.result_code == 1001:
            rep.accepted += 1
        else:
            e = rep.errors.setdefault(m.result_code, {"count": 0, "examples": []})
            e["count"] += 1
            if len(e["examples"]) < 3:
                e["examples"].append({"messageReferenceNumber": m.message_reference_number, "msg": m.result_msg,
                                      "errors": (m.errors or [])[:5]})
        if m.weak_envelope:
            published = crypto.is_published_weak_c1(m.c1_hex or "")
            weak.append({"messageReferenceNumber": m.message_reference_number, "c1Prefix": (m.c1_hex or "")[:34],
                         "resultCode": m.result_code,
                         "why": "C1为PHP SM2库公开的固定临时公钥 C1 is the library's published fixed ephemeral point"
                         if published else "C1与本账号其他报文重复 C1 repeats across this account's messages"})
    sent = sum(r.sent for r in per_type.values()) + other.sent
    rejected = sent - sum(r.accepted for r in per_type.values())
    error_rate = rejected / sent if sent else 1.0
    missing = [ipc for ipc, r in per_type.items() if r.accepted == 0]
    passed = not missing and error_rate < MAX_ERROR_RATE
    def _type(r: _TypeReport) -> dict[str, Any]:
        return {"sent": r.sent, "accepted": r.accepted,
                "errors": [{"code": c} | v for c, v in sorted(r.errors.items(), key=lambda kv: kv[0] or 0)]}

    return {
        "id": jt.id,
        "userName": account.user_name,
        "openedAt": jt.opened_at.isoformat(),
        "closedAt": jt.closed_at.isoformat() if jt.closed_at else None,
        "mode": "sandbox" if account.sandbox else "production",
        "types": {ipc: _type(r) for ipc, r in per_type.items()} | ({"other": _type(other)} if other.sent else {}),
        "sent": sent,
        "errorRate": round(error_rate, 4),
        "weakEnvelopes": {"count": len(weak), "examples": weak[:5], "howToFix": _WEAK_FIX if weak else None},
        "passed": passed,
        "why": ("all five message types accepted and error rate below 1 %" if passed else
                "; ".join(filter(None, [f"no accepted {', '.join(missing)}" if missing else "",
                                        f"error rate {error_rate:.1%} ≥ 1 %" if error_rate >= MAX_ERROR_RATE else ""]))),
    }


def promote(db_session: Session, joint_test_id: int, *, by: int | None = None, force: bool = False,
            ip: str | None = None) -> Account:
    """Switch the account of a passed joint test to production (data counts in statistics from then on).

    Refused while the account still has its one-time password (``must_change_password``), unless ``force``.
    Audited (``joint_test_promote``), a refusal too: its row is committed before the error is raised.
    """
    person = db_session.get(AppUser, by) if by is not None else None
    who = {"user_id": by, "username": person.username if person else None, "role": person.role if person else None,
           "target": f"joint_test:{joint_test_id}", "ip": ip}
    report = joint_test_report(db_session, joint_test_id)
    if report is None:
        _refuse(db_session, who, f"no joint test {joint_test_id}", {})
    jt = db_session.get(JointTest, joint_test_id)
    account = db_session.get(Account, jt.account_id)
    facts = {"account": account.user_name, "operatorId": account.operator_id, "forced": force,
             "passed": bool(report["passed"])}
    if account.must_change_password and not force:
        # The one-time password works on the test channel only: in production it would lock the platform out.
        _refuse(db_session, who,
                f"account {account.user_name!r} still has its one-time password: the platform sets its own first "
                f"(POST /api/v1/exchange/accounts/{account.user_name}/password, operator login)", facts)
    if not report["passed"] and not force:
        _refuse(db_session, who, f"joint test {joint_test_id} has not passed: {report['why']}", facts)
    jt.closed_at = jt.closed_at or utcnow()
    jt.promoted_at, jt.promoted_by = utcnow(), by
    account.sandbox = False
    operator = db_session.get(Operator, account.operator_id)
    operator.is_sandbox = False
    audit.record(db_session, "joint_test_promote", **who, detail=facts)
    return account


def _refuse(db_session: Session, who: dict[str, Any], reason: str, facts: dict[str, Any]) -> NoReturn:
    """Audit a refused promotion (committed on its own) and raise it."""
    audit.refused(db_session, "joint_test_promote", reason, detail=facts, **who)
    raise accounts.AccountError(reason)
