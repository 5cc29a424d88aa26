"""Reading operators within a Scope (B1): a filtered page, and one operator with its accounts and activity."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth.masking import mask
from auth.scope import Scope
from store.models import Account, Anomaly, FundFlow, Operator, Waybill
from store.paging import Page, page

__all__ = ["get_operator", "list_operators"]


def list_operators(*, db_session: Session, scope: Scope, division: str | None = None, name: str | None = None,
                   include_sandbox: bool = False, limit: int = 100, offset: int = 0) -> Page[Operator]:
    """Operators ``scope`` may see (a county its registered ones, an operator itself), by name or division."""
    q = select(Operator).where(scope.operator_filter(Operator.id))
    if not include_sandbox:
        q = q.where(Operator.is_sandbox.is_(False))
    if division:
        q = q.where(Operator.division_code.like(f"{division}%"))
    if name:
        q = q.where(Operator.name.contains(name))
    return page(db_session, q, order_by=[Operator.id], limit=limit, offset=offset,
                plain=True)


def row(op: Operator, scope: Scope) -> dict[str, Any]:
    """An operator as the API shows it (the contact telephone masked unless the scope may read it)."""
    return {"id": op.id, "usci": op.usci, "name": op.name, "permitNumber": op.permit_number,
            "divisionCode": op.division_code, "contactPerson": op.contact_person,
            "telephone": mask(op.telephone, "phone", clear=scope.personal_data), "address": op.address,
            "sandbox": op.is_sandbox}


def get_operator(*, db_session: Session, scope: Scope, operator_id: int) -> dict[str, Any] | None:
    """One operator with its exchange accounts and counts of its documents; None when not visible."""
    op = db_session.scalars(select(Operator).where(Operator.id == operator_id,
                                                   scope.operator_filter(Operator.id))).one_or_none()
    if op is None:
        return None
    accounts = db_session.scalars(select(Account).where(Account.operator_id == op.id).order_by(Account.id)).all()

    def count(model, *where) -> int:
        return db_session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return row(op, scope) | {
        "accounts": [{"userName": a.user_name, "status": a.status, "mode": "sandbox" if a.sandbox else "production"}
                     for a in accounts],
        "waybills": count(Waybill, Waybill.operator_id == op.id, Waybill.is_sandbox.is_(False)),
        "fundFlows": count(FundFlow, FundFlow.operator_id == op.id, FundFlow.is_sandbox.is_(False)),
        "openAnomalies": count(Anomaly, Anomaly.operator_id == op.id, Anomaly.status == "open"),
    }
