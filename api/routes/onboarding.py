"""``/api/v1/access-applications`` (D2) and ``/api/v1/joint-tests`` (D1): thin views over etl.exchange.onboarding."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from api.deps import SessionDep, YunzhengDep, require_roles
from etl.exchange import onboarding
from store.models import AppUser

__all__ = ["router"]

router = APIRouter(tags=["onboarding (接入认证, 联调测试)"])
Staff = Annotated[AppUser, Depends(require_roles("admin", "province"))]
Admin = Annotated[AppUser, Depends(require_roles("admin"))]


class AccessApplicationIn(BaseModel):
    """An applicant platform (wire names)."""

    name: str = Field(max_length=512)
    unifiedSocialCreditIdentifier: str = Field(min_length=18, max_length=18)
    permitNumber: str = Field(min_length=1, max_length=50)
    countrySubdivisionCode: str | None = Field(None, max_length=12)
    legalRepresentative: str | None = None
    contactPerson: str | None = None
    telephone: str | None = Field(None, max_length=18)
    address: str | None = Field(None, max_length=256)


class AccessGranted(BaseModel):
    operatorId: int
    userName: str
    passWord: str = Field(description="one-time password: shown only in this answer")
    provincePublicKey: str = Field(description="SM2 public key, hex 04‖X‖Y")
    sandbox: bool


class JointTestIn(BaseModel):
    userName: str


@router.post("/access-applications", response_model=AccessGranted, status_code=201,
             summary="Check an applicant against the 运政 registry and issue its access account")
def create_access_application(body: AccessApplicationIn, db: SessionDep, user: Staff, registry: YunzhengDep,
                              request: Request) -> AccessGranted:
    issued = onboarding.apply(db, body.model_dump(), registry=registry, by=user.id,
                              ip=request.client.host if request.client else None)
    return AccessGranted(operatorId=issued.operator_id, userName=issued.user_name, passWord=issued.password,
                         provincePublicKey=issued.province_public_key, sandbox=issued.sandbox)


@router.post("/joint-tests", status_code=201, summary="Open a joint-test session for a sandbox account")
def create_joint_test(body: JointTestIn, db: SessionDep, user: Staff, request: Request) -> dict[str, Any]:
    jt = onboarding.open_joint_test(db, user_name=body.userName, opened_by=user.id,
                                    ip=request.client.host if request.client else None)
    db.flush()
    return onboarding.joint_test_report(db, jt.id)


@router.get("/joint-tests/{joint_test_id}", summary="The conformance report of a joint test")
def get_joint_test(joint_test_id: int, db: SessionDep, user: Staff) -> dict[str, Any]:
    report = onboarding.joint_test_report(db, joint_test_id)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no joint test {joint_test_id}")
    return report


@router.post("/joint-tests/{joint_test_id}/promote", summary="Switch a passed joint test's account to production")
def promote_joint_test(joint_test_id: int, db: SessionDep, user: Admin, request: Request,
                       force: bool = False) -> dict[str, Any]:
    account = onboarding.promote(db, joint_test_id, by=user.id, force=force,
                                 ip=request.client.host if request.client else None)
    db.commit()
    request.app.state.exchange.forget_account(account.id)
    return {"userName": account.user_name, "mode": "production"}
