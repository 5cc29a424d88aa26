"""``/api/v1/waybills/{id}/trajectory`` and ``/verify`` (F3): thin views over trajectories.maps and .verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import NationalDep, ScopeDep, SessionDep, require_roles
from auth import audit
from auth.scope import Scope
from core.errors import NotFoundError
from store.models import AppUser, Operator, Waybill
from trajectories import maps, verification

__all__ = ["router"]

router = APIRouter(tags=["trajectories (轨迹核验)"])
Reader = Annotated[AppUser, Depends(require_roles("admin", "province", "city", "county", "operator"))]


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


def _waybill_or_404(db: Session, scope: Scope, waybill_id: int) -> Waybill:
    waybill = db.get(Waybill, waybill_id)
    # Out of scope answers like unknown: a county user learns nothing about other counties' waybills.
    if waybill is None or not scope.allows_operator(db.get(Operator, waybill.operator_id)):
        raise NotFoundError(f"no waybill {waybill_id}")
    return waybill


@router.get("/waybills/{waybill_id}/trajectory", summary="Fixes, trajectory per source, verdict and evidence",
            response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}}, 404: {"description": "unknown waybill"}})
def get_trajectory(waybill_id: int, db: SessionDep, user: Reader, scope: ScopeDep) -> Response:
    _waybill_or_404(db, scope, waybill_id)
    # The body comes from the service as JSON bytes (the fixes built by PostgreSQL): sent as they are, never parsed.
    return Response(maps.trajectory_geojson_bytes(db, waybill_id, scope=scope), media_type="application/geo+json")


@router.post("/waybills/{waybill_id}/verify", response_model=VerifyOut, summary="Re-run verification now")
def verify_now(waybill_id: int, db: SessionDep, user: Reader, scope: ScopeDep,
               national: NationalDep) -> dict[str, Any]:
    _waybill_or_404(db, scope, waybill_id)
    results = verification.verify_waybill(db, waybill_id, national=national)
    audit.record(db, "waybill_verify", scope=scope, target=f"waybill:{waybill_id}",
                 detail={"verdicts": [r.verdict for r in results]})
    return {"waybillId": waybill_id, "items": [
        {"seq": r.seq, "waybillVehicleId": r.waybill_vehicle_id, "verdict": r.verdict, "fired": r.fired,
         "verificationId": r.verification_id, "fixes": r.n_fixes} for r in results]}
