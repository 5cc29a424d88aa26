"""``/api/v1/alarms`` (D3, D5): alarms in your scope, their lifecycle events, rectification attachments; CSV too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import ScopeDep, SessionDep
from api.export import csv_response
from api.routes.exchange import read_capped
from auth import audit
from core import safejson
from core.config import get_settings
from core.errors import ForbiddenError
from supervision.alarms import service
from supervision.alarms.attachments import Upload
from supervision.alarms.service import AlarmFilter

__all__ = ["read_submission", "router"]

router = APIRouter(prefix="/alarms", tags=["alarms (报警与整改)"])
#: A JSON event or appeal is a short text: larger bodies are refused unread.
JSON_MAX_BODY = 64 * 1024
COLUMNS = ("id", "kind", "operatorId", "group", "groupZh", "level", "levelZh", "rate", "threshold", "status",
           "statusZh", "divisionCode", "raisedAt", "acknowledgedAt", "dueAt", "overdueAt", "closedAt", "textZh",
           "textEn")


class EventIn(BaseModel):
    action: str = Field(min_length=1, max_length=32,
                        description="acknowledge | submit_rectification | accept | reject | close")
    text: str | None = Field(default=None, max_length=20_000)


async def read_submission(request: Request, model: type[BaseModel]) -> tuple[BaseModel, list[Upload]]:
    """A JSON body, or a multipart form (the model's fields + ``files``): the validated fields and the uploads.

    Over-large bodies are refused before they are read (413); each file is read up to the limit only.
    """
    s = get_settings()
    cap = s.attachment_max_files * s.attachment_max_bytes + 256 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise HTTPException(413, f"body larger than {cap} bytes ({s.attachment_max_files} files of at most "
                                 f"{s.attachment_max_bytes} bytes)", headers={"Connection": "close"})
    uploads: list[Upload] = []
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=s.attachment_max_files + 1, max_fields=16)
        data = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
        for f in form.getlist("files"):
            if not isinstance(f, UploadFile):
                continue
            body = await f.read(s.attachment_max_bytes + 1)  # enough to tell it is too large
            uploads.append(Upload(filename=f.filename or "attachment", data=body))
        # too many files: max_files + 1 are parsed so that the service refuses (and audits) the count
    else:
        body = await read_capped(request, JSON_MAX_BODY)
        if body is None:
            raise HTTPException(413, f"JSON body larger than {JSON_MAX_BODY} bytes", headers={"Connection": "close"})
        try:
            data = safejson.loads(body, max_depth=4)
        except ValueError:
            raise HTTPException(422, "body must be JSON or multipart/form-data") from None
    try:
        return model.model_validate(data), uploads
    except ValidationError as e:
        raise HTTPException(422, [{k: v for k, v in x.items() if k in ("type", "loc", "msg")}
                                  for x in e.errors(include_url=False)]) from None


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("", summary="Alarms in your scope, newest first (format=csv for a download)")
def list_alarms(
    db: SessionDep, scope: ScopeDep,
    status: Literal["OPEN", "ACKNOWLEDGED", "RECTIFICATION_SUBMITTED", "ACCEPTED", "REJECTED", "CLOSED"] | None = None,
    group: Annotated[str | None, Query(description="INTAKE, QUAL, NETWORK, TRACK, MATCH, DUPLICATE, DEAD_LETTER")] = None,
    level: Literal["warning", "severe"] | None = None, operator_id: int | None = None,
    kind: Literal["rate", "dead_letter"] | None = None,
    division: Annotated[str | None, Query(description="leading digits of the assigned division")] = None,
    open: Annotated[bool, Query(description="only alarms not CLOSED")] = False,
    sort: Annotated[str, Query(description=f"one of {sorted(service.SORTS)}; prefix - for descending")] = "-raisedAt",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    f = AlarmFilter(status=status, group=group, level=level, operator_id=operator_id, kind=kind, division=division,
                    open_only=open)
    p = service.list_alarms(db_session=db, scope=scope, filters=f, sort=sort, limit=limit, offset=offset)
    items = [service.as_dict(a) for a in p.items]
    if format == "csv":
        return csv_response(items, COLUMNS, "alarms.csv")
    return {"total": p.total, "limit": p.limit, "offset": p.offset, "items": items}


@router.post("", summary="Evaluate the alarm rates and dead letters now (province, admin)")
def evaluate_now(db: SessionDep, scope: ScopeDep, request: Request) -> dict[str, Any]:
    if scope.role not in ("province", "admin"):
        refusal = ForbiddenError(f"role {scope.role!r} may not run the alarm evaluation")
        audit.refused(db, "alarm_evaluate", refusal, scope=scope, ip=_ip(request))
        raise refusal
    ev = service.evaluate(db)
    dead = service.raise_dead_letters(db)
    audit.record(db, "alarm_evaluate", scope=scope, ip=_ip(request),
                 detail={"raised": ev.raised, "escalated": ev.escalated})
    return {"raised": ev.raised, "escalated": ev.escalated, "refreshed": ev.refreshed, "checked": ev.checked,
            "deadLetterAlarm": dead}


@router.get("/{alarm_id}", summary="One alarm with its evidence, events and rectifications")
def get_alarm(alarm_id: int, db: SessionDep, scope: ScopeDep) -> dict[str, Any]:
    a = service.get(db_session=db, scope=scope, alarm_id=alarm_id)
    return service.as_dict(a, detail=True, db_session=db)


@router.post("/{alarm_id}/events", summary="Move the alarm: acknowledge, submit_rectification (with files), "
                                            "accept, reject, close")
async def post_event(alarm_id: int, request: Request, db: SessionDep, scope: ScopeDep) -> dict[str, Any]:
    """JSON ``{"action", "text"}``, or ``multipart/form-data`` with ``action``, ``text`` and up to N ``files``
    (PDF, PNG, JPEG, ZIP, OFD by content; each at most the configured size)."""
    body, uploads = await read_submission(request, EventIn)
    # off the event loop: storing files fsyncs, the database waits on locks
    a = await run_in_threadpool(lambda: service.transition(db_session=db, scope=scope, alarm_id=alarm_id,
                                                           action=body.action, text=body.text, uploads=uploads,
                                                           ip=_ip(request)))
    return service.as_dict(a, detail=True, db_session=db)


@router.get("/{alarm_id}/attachments/{digest}", summary="Download a rectification attachment (by SM3 digest)")
def get_attachment(alarm_id: int, digest: str, db: SessionDep, scope: ScopeDep) -> Response:
    meta, data = service.attachment(db_session=db, scope=scope, alarm_id=alarm_id, digest=digest)
    name = meta.get("filename") or digest
    return Response(data, media_type=meta["mediaType"], headers={
        "Content-Disposition": f"attachment; filename=\"{digest}.{meta['kind']}\"; filename*=UTF-8''"
                               f"{_quote(name)}", "X-Content-Type-Options": "nosniff"})


def _quote(name: str) -> str:
    import urllib.parse

    return urllib.parse.quote(name, safe="")
