"""``/api/v1/rankings``: indicators, score and rank per operator for a period (C1), and each indicator's drill-down.

Everyone with a login reads the ranking within their scope: admin, province and analysts every operator (a ranking
is an aggregate per operator, no personal data), a city or county the operators registered there ranked among
themselves (the province rank beside it), an operator its own row. The drill-down lists single documents, so
analysts do not get it (403) and an operator out of scope answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import ScopeDep, SessionDep
from api.export import csv_response
from supervision.configuration import INDICATORS
from supervision.indicators import explain, ranking
from supervision.indicators.periods import of_request

__all__ = ["router"]

router = APIRouter(prefix="/rankings", tags=["rankings (综合考核)"])

PeriodQ = Annotated[str | None, Query(description="a month YYYY-MM (2026-10) or a quarter YYYYQn (2026Q4)")]
FromQ = Annotated[dt.date | None, Query(alias="from", description="first Beijing day (with to=), included")]
ToQ = Annotated[dt.date | None, Query(alias="to", description="last Beijing day, included")]
COLUMNS = ("rank", "provinceRank", "operatorId", "operatorName", "divisionCode", "waybills", "score", "scoreChange",
           "previousRank", "rankChange", "configVersion", "skipped", *INDICATORS)
DOC_COLUMNS = ("documentKind", "documentId", "label", "at", "codes", "anomalies", "verdicts")


@router.get("", summary="Indicators, score, rank and change versus the previous period, per operator")
def list_rankings(db: SessionDep, scope: ScopeDep, period: PeriodQ = None, first: FromQ = None, last: ToQ = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 1000, offset: Annotated[int, Query(ge=0)] = 0,
                  format: Literal["json", "csv"] = "json") -> Any:
    p = of_request(period, first, last)
    r = ranking(db, scope, p.first, p.last, period=p)
    body = r.as_wire()
    body["items"] = body["items"][offset:offset + limit]
    body.update(limit=limit, offset=offset)
    if format == "csv":
        rows = [{**{k: v for k, v in x.items() if k != "indicators"},
                 **{i: x["indicators"][i]["value"] for i in INDICATORS},
                 "skipped": " ".join(x["skipped"])} for x in body["items"]]
        return csv_response(rows, COLUMNS, f"ranking-{p.label}.csv")
    return body


@router.get("/{operator_id}/indicators/{indicator}",
            summary="The documents that lowered one indicator of one operator (paged)")
def explain_indicator(operator_id: int, indicator: Literal[INDICATORS], db: SessionDep,  # type: ignore[valid-type]
                      scope: ScopeDep, period: PeriodQ = None, first: FromQ = None, last: ToQ = None,
                      limit: Annotated[int, Query(ge=1, le=10_000)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
                      format: Literal["json", "csv"] = "json") -> Any:
    p = of_request(period, first, last)
    body = explain(db, scope, operator_id, indicator, p, limit=limit, offset=offset)
    if format == "csv":
        rows = [{**x, "codes": " ".join(a["code"] for a in x["anomalies"])} for x in body["items"]]
        return csv_response(rows, DOC_COLUMNS, f"ranking-{p.label}-{operator_id}-{indicator}.csv")
    return body
