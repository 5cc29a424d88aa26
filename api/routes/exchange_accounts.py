"""``/api/v1/exchange/accounts/{userName}/password``: a platform sets its own exchange password (operator login).

An access account is issued (or reset) with a one-time password that logs in on the test channel only; before the
account can work in production the platform replaces it here, through its operator person login — the exchange's
own wire protocol is unchanged.  The body is read by hand (capped, depth-limited) so that a 422 never echoes a
password back.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError

from api.deps import SessionDep, require_roles
from api.routes.auth import _no_input
from api.routes.exchange import read_capped
from core import safejson
from etl.exchange import accounts
from store.models import AppUser

__all__ = ["router"]

router = APIRouter(prefix="/exchange/accounts", tags=["exchange accounts (platform's own)"])
OperatorUser = Annotated[AppUser, Depends(require_roles("operator"))]
_MAX_BODY = 4 * 1024


class PasswordChangeIn(BaseModel):
    oldPassword: str | None = Field(None, max_length=accounts.MAX_PASSWORD_LENGTH)
    newPassword: str = Field(min_length=1, max_length=accounts.MAX_PASSWORD_LENGTH)


class PasswordChanged(BaseModel):
    userName: str
    mustChangePassword: bool
    mode: str


@router.post("/{user_name}/password", response_model=PasswordChanged,
             summary="Set this platform's own exchange password (replaces the one-time password)")
async def change_password(user_name: str, request: Request, db: SessionDep, user: OperatorUser) -> PasswordChanged:
    """Operator role, its own platform's account only (another's answers 404).

    Body ``{"oldPassword"?, "newPassword"}``; the new one: 12–128 characters, at least three of lower-case,
    upper-case, digit and other, not containing the account name, not the current one.  Earlier exchange tokens of
    the account stop working.
    """
    body = await read_capped(request, _MAX_BODY)
    if body is None:
        raise HTTPException(413, f"body larger than {_MAX_BODY} bytes",
                            headers={"Connection": "close"})
    try:
        data = PasswordChangeIn.model_validate(safejson.loads(body, max_depth=4))
    except ValidationError as e:
        raise HTTPException(422, _no_input(e.errors(include_url=False, include_input=False))) from None
    except ValueError:
        raise HTTPException(422, "body must be JSON {oldPassword?, newPassword}") from None
    ip = request.client.host if request.client else None
    account = accounts.change_password(db_session=db, user_name=user_name, new_password=data.newPassword,
                                       old_password=data.oldPassword, operator_id=user.operator_id,
                                       by=user.username, ip=ip)  # a refusal keeps its audit row (audit.refused)
    db.flush()
    request.app.state.exchange.forget_account(account.id)
    return PasswordChanged(userName=account.user_name, mustChangePassword=account.must_change_password,
                           mode="sandbox" if account.sandbox else "production")
