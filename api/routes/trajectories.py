"""``/api/v1/waybills/{id}/trajectory`` and ``/verify`` (F3): thin views over trajectories.maps and .verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import NationalDep, ScopeDep, SessionDep, require_roles
from auth import audit
from auth.scope import Scope
from core.errors import NotFoundError
from store.models import AppUser, Operator, Waybill
from supervision import configuration
from trajectories import maps, signatures, verification

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


class CrossCheck(BaseModel):
    seq: int
    code: str = Field(description="TRACK_DUPLICATED or TRACK_VEHICLE_OVERLAP")
    otherWaybillId: int = Field(description="the copied track's source, or the overlapping waybill")
    otherSeq: int
    reasonZh: str
    reasonEn: str


class VerifyOut(BaseModel):
    waybillId: int
    items: list[ItemVerdict]
    crossChecks: list[CrossCheck] = []


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
def verify_now(waybill_id: int, db: SessionDep, user: Reader, scope: ScopeDep, national: NationalDep,
               request: Request) -> dict[str, Any]:
    """Every rule the worker runs on a completed waybill: the per-waybill TRACK_* rules, then the cross-waybill
    ones (a copied track against the ``track_signature`` index, the vehicle on another waybill at the same time).
    ``crossChecks`` lists what those found on this waybill."""
    _waybill_or_404(db, scope, waybill_id)
    # the same two calls as the worker's verify_waybill job (trajectories.jobs.verification_handlers)
    results = verification.verify_waybill(db, waybill_id, national=national,
                                          thresholds=configuration.trajectory_thresholds_now(db))
    findings = signatures.crosscheck_items(db, [r.waybill_vehicle_id for r in results])
    # only this waybill's: a finding on another (e.g. the later copy of this track) is that waybill's business
    mine = [f for f in findings if f.waybill_id == waybill_id]
    audit.record(db, "waybill_verify", scope=scope, target=f"waybill:{waybill_id}",
                 ip=request.client.host if request.client else None,
                 detail={"verdicts": [r.verdict for r in results], "crossChecks": sorted({f.code for f in mine})})
    return {"waybillId": waybill_id, "items": [
        {"seq": r.seq, "waybillVehicleId": r.waybill_vehicle_id, "verdict": r.verdict, "fired": r.fired,
         "verificationId": r.verification_id, "fixes": r.n_fixes} for r in results],
        "crossChecks": [{"seq": f.seq, "code": f.code, "otherWaybillId": f.other_waybill_id,
                         "otherSeq": f.other_seq, "reasonZh": f.reasons()[0], "reasonEn": f.reasons()[1]}
                        for f in mine]}
