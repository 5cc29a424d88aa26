"""``/api/v1/operators`` (B1): the platforms in your scope, and one with its accounts and activity."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import ScopeDep, SessionDep
from api.export import csv_response
from core.errors import NotFoundError
from supervision.basedata import operators

__all__ = ["router"]

router = APIRouter(tags=["base data (基础信息)"])
OPERATOR_COLUMNS = ("id", "usci", "name", "permitNumber", "divisionCode", "contactPerson", "telephone", "address",
                    "sandbox")


@router.get("/operators", summary="Operators (网络货运经营者) in your scope (format=csv for a download)")
def list_operators(
    db: SessionDep, scope: ScopeDep,
    division: Annotated[str | None, Query(description="leading digits of the registered division code")] = None,
    name: Annotated[str | None, Query(description="part of the name")] = None,
    include_sandbox: bool = False, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0, format: Literal["json", "csv"] = "json",
) -> Any:
    p = operators.list_operators(db_session=db, scope=scope, division=division, name=name,
                                 include_sandbox=include_sandbox, limit=limit, offset=offset)
    items = [operators.row(op, scope) for op in p.items]
    if format == "csv":
        return csv_response(items, OPERATOR_COLUMNS, "operators.csv")
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": items}


@router.get("/operators/{operator_id}", summary="One operator with its exchange accounts and document counts")
def get_operator(operator_id: int, db: SessionDep, scope: ScopeDep) -> dict[str, Any]:
    out = operators.get_operator(db_session=db, scope=scope, operator_id=operator_id)
    if out is None:
        raise NotFoundError(f"no operator {operator_id}")
    return out
