"""The demo's people: ``admin`` and one user per role, with credentials printed and kept in ``var/``."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth import service as auth_service
from core import keyfiles, security
from store.models import AppUser, Operator

__all__ = ["ensure_demo_users"]


def ensure_demo_users(
    session: Session, *, province_code: str, credentials_file: Path, admin_password: str | None = None
) -> list[dict[str, str]]:
    """Create the demo users that do not exist yet; return every demo user's credentials.

    Passwords are random (the admin's comes from ``WLHY_ADMIN_PASSWORD`` when set) and kept in
    ``credentials_file`` (mode 600) so that a re-run can print them again.
    """
    known: dict[str, dict[str, str]] = {}
    if credentials_file.exists():
        known = {c["username"]: c for c in keyfiles.read_json(credentials_file)}
    # The county with the most platforms (and its city), so the county and city users see demo business; the
    # operator user is a platform of that county.
    busiest = session.execute(
        select(Operator.division_code).where(Operator.division_code.is_not(None), Operator.is_sandbox.is_(False))
        .group_by(Operator.division_code).order_by(func.count().desc(), Operator.division_code).limit(1)
    ).scalar_one_or_none()
    county = busiest or province_code[:2] + "0102"
    first_op = session.scalars(select(Operator).where(Operator.is_sandbox.is_(False))
                               .order_by((Operator.division_code == county).desc().nulls_last(), Operator.id)).first()
    wanted = [
        ("admin", "admin", None, None, "系统管理员"),
        ("province", "province", province_code, None, "省级监管"),
        ("city", "city", county[:4] + "00", None, "市级监管"),
        ("county", "county", county, None, "县级监管"),
        ("analyst", "analyst", None, None, "数据分析"),
        ("operator", "operator", None, first_op.id if first_op else None, first_op.name if first_op else None),
    ]
    out = []
    for username, role, division, operator_id, full_name in wanted:
        if role == "operator" and operator_id is None:
            continue
        existing = session.scalars(select(AppUser).where(AppUser.username == username)).one_or_none()
        if existing is None:
            password = (admin_password if username == "admin" and admin_password else secrets.token_urlsafe(12))
            auth_service.create(db_session=session, username=username, password=password, role=role,
                                division_code=division, operator_id=operator_id, full_name=full_name)
            known[username] = {"username": username, "password": password, "role": role,
                               "division_code": division or ""}
        elif username == "admin" and admin_password and not security.verify_password(existing.password_hash,
                                                                                         admin_password):
            existing.password_hash = security.hash_password(admin_password)
            known[username] = {"username": username, "password": admin_password, "role": role, "division_code": ""}
        if username in known:
            out.append(known[username])
        else:
            out.append({"username": username, "password": "(set earlier; reset with `wlhy users reset`)",
                        "role": existing.role, "division_code": existing.division_code or ""})
    session.flush()
    keyfiles.write_json(credentials_file, list(known.values()))  # 0600 from the start, replaced atomically
    return out
