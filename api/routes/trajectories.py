"""``/api/v1/waybills/{id}/trajectory`` and ``/verify`` (F3): thin views over trajectories.service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import SessionDep, require_roles
from store.models import AppUser, Operator, Waybill
from trajectories import service

__all__ = ["router", "visible"]

router = APIRouter(tags=["trajectories (轨迹核验)"])
Reader = Annotated[AppUser, Depends(require_roles("admin", "province", "city", "county", "operator"))]
# Regulators keep this many leading digits of their division code: province 2, city 4, county 6.
_SCOPE_DIGITS = {"province": 2, "city": 4, "county": 6}


class ItemVerdict(BaseModel):
    seq: int
    waybillVehicleId: int
    verdict: str
    fired: list[str]
    verificationId: int
    fixes: dict[str, int]


class VerifyOut(BaseModel):
    waybillId: int
    items: list[ItemVerdict]


def visible(db: Session, user: AppUser, waybill: Waybill) -> bool:
    """Whether ``user`` may see ``waybill``: admin all, regulators their division, an operator its own."""
    if user.role == "admin":
        return True
    if user.role == "operator":
        return user.operator_id is not None and waybill.operator_id == user.operator_id
    digits = _SCOPE_DIGITS.get(user.role)
    if digits is None or not user.division_code:
        return False
    operator = db.get(Operator, waybill.operator_id)
    code = (operator.division_code if operator else None) or ""
    return code[:digits] == user.division_code[:digits]


def _waybill_or_404(db: Session, user: AppUser, waybill_id: int) -> Waybill:
    waybill = db.get(Waybill, waybill_id)
    # Out of scope answers like unknown: a county user learns nothing about other counties' waybills.
    if waybill is None or not visible(db, user, waybill):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no waybill {waybill_id}")
    return waybill


@router.get("/waybills/{waybill_id}/trajectory", summary="Fixes, trajectory per source, verdict and evidence",
            response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}}, 404: {"description": "unknown waybill"}})
def get_trajectory(waybill_id: int, db: SessionDep, user: Reader) -> Response:
    _waybill_or_404(db, user, waybill_id)
    # The body comes from the service as JSON bytes (the fixes built by PostgreSQL): sent as they are, never parsed.
    return Response(service.trajectory_geojson_bytes(db, waybill_id), media_type="application/geo+json")


@router.post("/waybills/{waybill_id}/verify", response_model=VerifyOut, summary="Re-run verification now")
def verify_now(waybill_id: int, db: SessionDep, user: Reader, request: Request) -> dict[str, Any]:
    _waybill_or_404(db, user, waybill_id)
    # The national platform client is optional app state (set where the adapters are configured).
    results = service.verify_waybill(db, waybill_id, national=getattr(request.app.state, "national", None))
    return {"waybillId": waybill_id, "items": [
        {"seq": r.seq, "waybillVehicleId": r.waybill_vehicle_id, "verdict": r.verdict, "fired": r.fired,
         "verificationId": r.verification_id, "fixes": r.n_fixes} for r in results]}
