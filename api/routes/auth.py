"""``/api/v1/auth``: person login (bearer token), who am I, logout."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from api.deps import CurrentUser, SessionDep
from api.routes.exchange import read_capped
from auth import service as auth_service
from core import safejson
from core.config import get_settings
from supervision.alarms import service as alarm_service

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
    # an operator's unacknowledged alarms (spec/RULES.md §4: shown at next login until acknowledged)
    alarms: list[dict] = Field(default_factory=list)


def _user_read(user) -> UserRead:
    return UserRead(username=user.username, role=user.role, division_code=user.division_code,
                    operator_id=user.operator_id, full_name=user.full_name)


#: A login body is two short strings: larger bodies are refused unread (413), deeper JSON unparsed (422).
LOGIN_MAX_BODY = 4 * 1024
_LOGIN_MAX_DEPTH = 4


def _form(body: bytes) -> dict[str, str | None]:
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(422, "body must be a form with username and password") from None
    return {k: (fields.get(k) or [None])[0] for k in ("username", "password")}


def _no_input(errors: list[dict]) -> list[dict]:
    """Pydantic's errors without what was sent (``input``, ``ctx``): a 422 must never echo a password."""
    return [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in errors]


@public_router.post("/login", response_model=TokenRead, summary="Log in and get a bearer token")
async def login(request: Request, db: SessionDep) -> TokenRead:
    """Accepts JSON ``{"username", "password"}`` or an OAuth2 password form; answers a bearer token."""
    body = await read_capped(request, LOGIN_MAX_BODY)
    if body is None:
        raise HTTPException(413, f"body larger than {LOGIN_MAX_BODY} bytes",
                            headers={"Connection": "close"})
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        data = _form(body)
    else:
        try:
            data = safejson.loads(body, max_depth=_LOGIN_MAX_DEPTH)
        except ValueError:
            raise HTTPException(422, "body must be JSON {username, password}") from None
    try:
        creds = LoginIn.model_validate(data)
    except ValidationError as e:
        raise HTTPException(422, _no_input(e.errors(include_url=False, include_input=False))) from None
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
    operator_id = user.operator_id if user.role == "operator" else None
    pending = alarm_service.unacknowledged(db, operator_id) if operator_id else []
    return TokenRead(access_token=issued.token, expires_at=issued.expires_at, user=_user_read(user), alarms=pending)


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
