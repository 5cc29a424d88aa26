"""FastAPI dependencies defined once: the database session, the current user and its Scope, outside-system clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from auth import service as auth_service
from auth.scope import Scope
from etl.adapters import NationalPlatformClient, YunzhengClient
from store.db import session_scope
from store.models import AppUser

__all__ = ["CurrentUser", "NationalDep", "ScopeDep", "SessionDep", "YunzhengDep", "get_db", "require_roles"]

_bearer = HTTPBearer(auto_error=False, description="Token from POST /api/v1/auth/login")


def get_db(request: Request) -> Iterator[Session]:
    """One session per request; committed when the handler succeeds, rolled back otherwise."""
    with session_scope(factory=request.app.state.session_factory) as session:
        yield session


# scope="function": commit (or roll back) when the handler returns, *before* the response is sent — otherwise a
# client can use what it was just given (a login token, a new id) before it is committed.
SessionDep = Annotated[Session, Depends(get_db, scope="function")]


def get_current_user(
    db: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> AppUser:
    """The user behind the bearer token, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token; log in at POST /api/v1/auth/login",
                            headers={"WWW-Authenticate": "Bearer"})
    user = auth_service.user_for_token(db_session=db, token=credentials.credentials)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "token invalid or expired; log in again",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[AppUser, Depends(get_current_user)]


def require_roles(*roles: str):
    """Dependency factory: 403 unless the current user has one of ``roles``."""

    def check(user: CurrentUser) -> AppUser:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role!r} may not do this; needs one of {roles}")
        return user

    return check


def get_scope(user: CurrentUser) -> Scope:
    """What the current user may see (auth.scope): every query service takes it."""
    return Scope.of(user)


ScopeDep = Annotated[Scope, Depends(get_scope)]


# Clients of outside systems are built once per app (api.main.create_app) and handed to routes from here.
def get_yunzheng(request: Request) -> YunzhengClient:
    return request.app.state.yunzheng


def get_national(request: Request) -> NationalPlatformClient:
    return request.app.state.national


YunzhengDep = Annotated[YunzhengClient, Depends(get_yunzheng)]
NationalDep = Annotated[NationalPlatformClient, Depends(get_national)]
