"""``/api/v1/appeals`` (D4): an operator appeals a QUAL_* anomaly; the 运政 registry decides; CSV too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import ScopeDep, SessionDep, YunzhengDep
from api.export import csv_response
from api.routes.alarms import _quote, read_submission
from supervision.appeals import service

__all__ = ["router"]

router = APIRouter(prefix="/appeals", tags=["appeals (申诉)"])
COLUMNS = ("id", "anomalyId", "code", "nameZh", "operatorId", "statement", "filedAt", "dueAt", "status", "outcome",
           "outcomeZh", "decidedAt", "attempts", "lastError", "anomalyStatus")


class AppealIn(BaseModel):
    anomalyId: int = Field(ge=1)
    statement: str = Field(min_length=1, max_length=20_000)


@router.get("", summary="Appeals in your scope, newest first (format=csv for a download)")
def list_appeals(
    db: SessionDep, scope: ScopeDep, status: Literal["pending", "decided"] | None = None,
    outcome: Literal["upheld", "overturned"] | None = None, operator_id: int | None = None,
    sort: Annotated[str, Query(description=f"one of {sorted(service.SORTS)}; prefix - for descending")] = "-filedAt",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    p = service.list_appeals(db_session=db, scope=scope, status=status, outcome=outcome, operator_id=operator_id,
                             sort=sort, limit=limit, offset=offset)
    items = [service.as_dict(a, db) for a in p.items]
    if format == "csv":
        return csv_response(items, COLUMNS, "appeals.csv")
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": items}


@router.post("", status_code=201, summary="Appeal a QUAL_* anomaly (JSON, or multipart with evidence files)")
async def file_appeal(request: Request, db: SessionDep, scope: ScopeDep, yunzheng: YunzhengDep) -> dict[str, Any]:
    """JSON ``{"anomalyId", "statement"}`` or ``multipart/form-data`` with those fields and up to N ``files``.
    The registry is asked at once: the answer may already be the outcome."""
    body, uploads = await read_submission(request, AppealIn)
    ip = request.client.host if request.client else None
    # off the event loop: the registry is asked over HTTP, files are fsynced
    a = await run_in_threadpool(lambda: service.file_appeal(db_session=db, scope=scope, anomaly_id=body.anomalyId,
                                                            statement=body.statement, uploads=uploads,
                                                            yunzheng=yunzheng, ip=ip))
    return service.as_dict(a, db, detail=True)


@router.get("/{appeal_id}", summary="One appeal with its registry comparisons and attachments")
def get_appeal(appeal_id: int, db: SessionDep, scope: ScopeDep) -> dict[str, Any]:
    return service.as_dict(service.get(db_session=db, scope=scope, appeal_id=appeal_id), db, detail=True)


@router.get("/{appeal_id}/attachments/{digest}", summary="Download an appeal's evidence file (by SM3 digest)")
def get_attachment(appeal_id: int, digest: str, db: SessionDep, scope: ScopeDep) -> Response:
    meta, data = service.attachment(db_session=db, scope=scope, appeal_id=appeal_id, digest=digest)
    return Response(data, media_type=meta["mediaType"], headers={
        "Content-Disposition": f"attachment; filename=\"{digest}.{meta['kind']}\"; filename*=UTF-8''"
                               f"{_quote(meta.get('filename') or digest)}", "X-Content-Type-Options": "nosniff"})
