"""``/api/v1/auth``: person login (bearer token), who am I, logout."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from api.deps import CurrentUser, SessionDep
from auth import service as auth_service
from core.config import get_settings

__all__ = ["public_router", "router"]

public_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserRead(BaseModel):
    username: str
    role: str
    division_code: str | None
    operator_id: int | None
    full_name: str | None


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime
    user: UserRead


def _user_read(user) -> UserRead:
    return UserRead(username=user.username, role=user.role, division_code=user.division_code,
                    operator_id=user.operator_id, full_name=user.full_name)


@public_router.post("/login", response_model=TokenRead, summary="Log in and get a bearer token")
async def login(request: Request, db: SessionDep) -> TokenRead:
    """Accepts JSON ``{"username", "password"}`` or an OAuth2 password form; answers a bearer token."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        data = {"username": form.get("username"), "password": form.get("password")}
    else:
        try:
            data = await request.json()
        except ValueError:
            raise HTTPException(422, "body must be JSON {username, password}") from None
    try:
        creds = LoginIn.model_validate(data)
    except ValidationError as e:
        raise HTTPException(422, e.errors(include_url=False)) from None
    ip = request.client.host if request.client else None
    try:
        user = auth_service.authenticate(db_session=db, username=creds.username, password=creds.password, ip=ip)
    except auth_service.LoginThrottled:
        db.commit()  # keep the audit row; api/errors.py answers 429
        raise
    if user is None:
        db.commit()  # keep the audit row of the failure
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    issued = auth_service.issue_token(db_session=db, user=user,
                                      ttl=dt.timedelta(seconds=get_settings().token_ttl_s))
    return TokenRead(access_token=issued.token, expires_at=issued.expires_at, user=_user_read(user))


@router.get("/me", response_model=UserRead, summary="The logged-in user")
def me(user: CurrentUser) -> UserRead:
    return _user_read(user)


@router.post("/logout", status_code=204, summary="Revoke this token")
def logout(
    db: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())],
    user: CurrentUser,
) -> None:
    auth_service.revoke_token(db_session=db, token=credentials.credentials)
