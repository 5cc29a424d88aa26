"""``/api/v1/config``: the one configuration place (weights, thresholds, rule defaults), versioned; admin edits it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from api.deps import ScopeDep, SessionDep, require_roles
from store.models import AppUser
from supervision import configuration

__all__ = ["router"]

router = APIRouter(prefix="/config", tags=["configuration (配置)"])
# Everyone who reads rankings or alarms may see the weights and thresholds behind them; operators too.
Reader = Annotated[AppUser, Depends(require_roles("admin", "province", "city", "county", "analyst", "operator"))]

_EXAMPLE = {"changes": {"indicator_weights": {"uniqueness": 10}, "alarm_thresholds": {"TRACK": {
    "warning": 0.08, "severe": 0.2}}}, "comment": "轨迹阈值放宽 / looser trajectory thresholds"}


@router.get("", summary="The configuration in force (version 0 = the defaults of spec/RULES.md)")
def get_config(db: SessionDep, user: Reader) -> dict[str, Any]:
    return configuration.current(db).as_wire()


@router.get("/versions", summary="Every configuration version, newest first, ending with the defaults (0)")
def list_versions(db: SessionDep, user: Reader) -> dict[str, Any]:
    items = [c.as_wire() for c in configuration.history(db)]
    return {"total": len(items), "items": items}


@router.put("", summary="Change settings (admin): a new version, validated and audited")
def put_config(db: SessionDep, scope: ScopeDep, request: Request,
               body: Annotated[dict[str, Any], Body(openapi_examples={"weights and thresholds": {
                   "value": _EXAMPLE}})]) -> dict[str, Any]:
    """``{"changes": {setting: value, …}, "comment": "…"}``; object settings merge one level deep. A bare object
    of settings (without ``changes``) is accepted too."""
    changes = body.get("changes", body) if isinstance(body, dict) else body
    if isinstance(changes, dict):
        changes = {k: v for k, v in changes.items() if k != "comment"}
    comment = body.get("comment") if isinstance(body, dict) else None
    ip = request.client.host if request.client else None
    # a refusal is audited by configuration.update itself (committed before it raises); api/errors.py answers it
    cfg = configuration.update(db, changes, scope=scope, ip=ip,
                               comment=str(comment)[:500] if comment is not None else None)
    return cfg.as_wire()
