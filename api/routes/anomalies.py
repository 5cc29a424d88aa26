"""``/api/v1/anomalies`` (B3): anomalies by code, group, operator, document, division, date and status; CSV too."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api import openapi as docs
from api.deps import ScopeDep, SessionDep
from api.export import csv_response, features_response
from core.errors import NotFoundError
from store.anomalies import ANOMALY_TYPES, GROUPS
from store.models import Anomaly
from supervision import geofeatures
from supervision.anomalies import service
from supervision.anomalies.service import AnomalyFilter

__all__ = ["router"]

#: every status of the ledger (store.models.ANOMALY_STATUSES), ``pending_check`` = not checked yet (registry down)
Status = Annotated[Literal["open", "appealed", "upheld", "overturned", "resolved", "pending_check"] | None,
                   Query(description="open, appealed, upheld, overturned, resolved, or pending_check "
                                     "(未核验：登记系统不可用 · not checked yet, registry unavailable)")]

router = APIRouter(prefix="/anomalies", tags=["anomalies (异常信息)"])
COLUMNS = ("id", "code", "nameZh", "nameEn", "group", "groupZh", "severity", "status", "operatorId", "documentKind",
           "documentId", "documentKey", "detectedAt", "resolvedAt", "reasonZh", "reasonEn")


def _row(a: Anomaly, *, evidence: bool = False) -> dict[str, Any]:
    kind = ANOMALY_TYPES.get(a.code)
    out = {"id": a.id, "code": a.code, "nameZh": kind.name_zh if kind else None,
           "nameEn": kind.name_en if kind else None, "group": a.group_code,
           "groupZh": GROUPS.get(a.group_code, ("", ""))[0], "severity": a.severity, "status": a.status,
           "operatorId": a.operator_id, "documentKind": a.document_kind, "documentId": a.document_id,
           "documentKey": a.document_key, "detectedAt": a.detected_at, "resolvedAt": a.resolved_at,
           "reasonZh": a.reason_zh, "reasonEn": a.reason_en}
    if evidence:
        out["evidence"] = a.evidence
    return out


def _filters(code: str | None, group: str | None, operator_id: int | None, document_kind: str | None,
             document_id: int | None, division: str | None, status: str | None, severity: str | None,
             date_from: dt.date | None, date_to: dt.date | None) -> AnomalyFilter:
    return AnomalyFilter(code=code, group=group, operator_id=operator_id, document_kind=document_kind,
                         document_id=document_id, division=division, status=status, severity=severity,
                         date_from=date_from, date_to=date_to)


Code = Annotated[str | None, Query(description="anomaly code of spec/RULES.md §1, e.g. TRACK_MISSING")]
Group = Annotated[str | None, Query(description="group: INTAKE, QUAL, NETWORK, TRACK, MATCH, DUPLICATE")]
From = Annotated[dt.date | None, Query(alias="from", description="first Beijing day of detection")]
To = Annotated[dt.date | None, Query(alias="to", description="last Beijing day of detection (included)")]


@router.get("", summary="Anomalies in your scope, newest first (format=csv for a download)", **docs.ANOMALIES)
def list_anomalies(
    db: SessionDep, scope: ScopeDep, code: Code = None, group: Group = None, operator_id: int | None = None,
    document_kind: str | None = None, document_id: int | None = None,
    division: Annotated[str | None, Query(description="leading digits of the operator's division code")] = None,
    status: Status = None, severity: Literal["warning", "severe"] | None = None,
    date_from: From = None, date_to: To = None,
    sort: Annotated[str, Query(description=f"one of {sorted(service.SORTS)}; prefix - for descending")] = "-detectedAt",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
    format: Annotated[Literal["json", "csv", "geojson", "geoparquet"], Query(
        description="json, csv (UTF-8 with BOM), geojson or geoparquet (points; anomalies without a location are "
                    "left out 无位置的异常不输出)")] = "json",
) -> Any:
    f = _filters(code, group, operator_id, document_kind, document_id, division, status, severity, date_from, date_to)
    p = service.list_anomalies(db_session=db, scope=scope, filters=f, sort=sort, limit=limit, offset=offset)
    if format in ("geojson", "geoparquet"):
        points = geofeatures.anomaly_points(db, p.items)
        return features_response((geofeatures.feature(points[a.id], _row(a)) for a in p.items if a.id in points),
                                 format, "anomalies")
    items = [_row(a) for a in p.items]
    if format == "csv":
        return csv_response(items, COLUMNS, "anomalies.csv")
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": items}


@router.get("/summary", summary="Counts of the matching anomalies by group, code and operator",
            **docs.ANOMALY_SUMMARY)
def summary(
    db: SessionDep, scope: ScopeDep, code: Code = None, group: Group = None, operator_id: int | None = None,
    division: str | None = None, status: Status = None,
    date_from: From = None, date_to: To = None,
) -> dict[str, Any]:
    f = _filters(code, group, operator_id, None, None, division, status, None, date_from, date_to)
    return service.counts(db_session=db, scope=scope, filters=f)


@router.get("/{anomaly_id}", summary="One anomaly with its evidence", **docs.ANOMALY)
def get_anomaly(anomaly_id: int, db: SessionDep, scope: ScopeDep) -> dict[str, Any]:
    a = service.get(db_session=db, scope=scope, anomaly_id=anomaly_id)
    if a is None:
        raise NotFoundError(f"no anomaly {anomaly_id}")
    return _row(a, evidence=True)
