"""Login over real HTTP: bearer tokens, every /api/v1 route behind them, failures audited and throttled."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import service as auth_service
from auth import throttle
from core import security
from store.models import AuditLog, UserSession


def login(http, username, password):
    return http.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_healthz_reports_database(http):
    r = http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}


def test_login_returns_a_bearer_token_that_opens_api_v1(http, make_user):
    username, password = make_user("county", division_code="340104")
    r = login(http, username, password)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and len(body["access_token"]) >= 32
    assert body["user"] == {"username": username, "role": "county", "division_code": "340104", "operator_id": None,
                            "full_name": None}
    me = http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == username


def test_oauth2_form_login_works_too(http, make_user):
    username, password = make_user()
    r = http.post("/api/v1/auth/login", data={"username": username, "password": password})
    assert r.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}])
def test_api_v1_refuses_without_a_valid_token(http, headers):
    r = http.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_wrong_password_is_401_and_audited_without_the_password(http, make_user, engine):
    username, _ = make_user()
    r = login(http, username, "wrong-password-123")
    assert r.status_code == 401
    with Session(engine) as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.username == username)).all()
    assert [a.action for a in rows] == ["login_failed"]
    assert all("wrong-password-123" not in str(a.detail) for a in rows)


def test_repeated_failures_delay_even_the_right_password_then_it_works(http, make_user):
    username, password = make_user()
    answers = [login(http, username, "nope") for _ in range(throttle.ACCOUNT.free + 1)]
    assert [a.status_code for a in answers[:-1]] == [401] * throttle.ACCOUNT.free
    refused = login(http, username, password)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    # a growing delay, not a lockout: once it has passed, the right password logs in
    time.sleep(int(refused.headers["retry-after"]) + 0.2)
    assert login(http, username, password).status_code == 200


def test_unknown_and_known_usernames_answer_alike_in_time(http, make_user):
    username, _ = make_user()

    def t(name):
        t0 = time.perf_counter()
        assert login(http, name, "wrong-password").status_code == 401
        return time.perf_counter() - t0

    known = sorted(t(username) for _ in range(3))[1]
    unknown = sorted(t(f"nobody-{k}") for k in range(3))[1]
    # the unknown name pays for a dummy argon2id check: no 10 ms vs 300 ms difference to read
    assert unknown > 0.5 * known


def test_logout_revokes_the_token(http, make_user):
    username, password = make_user()
    token = login(http, username, password).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    assert http.post("/api/v1/auth/logout", headers=h).status_code == 204
    assert http.get("/api/v1/auth/me", headers=h).status_code == 401


def test_token_is_stored_only_as_a_digest(http, make_user, engine):
    username, password = make_user()
    token = login(http, username, password).json()["access_token"]
    with Session(engine) as s:
        digests = s.scalars(select(UserSession.token_sha256)).all()
    assert token not in digests and len(digests) >= 1


def test_expired_token_is_refused(http, make_user, engine):
    import datetime as dt

    username, password = make_user()
    with Session(engine) as s:
        user = auth_service.get_by_username(db_session=s, username=username)
        issued = auth_service.issue_token(db_session=s, user=user, ttl=dt.timedelta(seconds=-1))
        s.commit()
    r = http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {issued.token}"})
    assert r.status_code == 401


@pytest.mark.parametrize("role,kw,error", [
    ("county", {}, "division_code"),
    ("operator", {}, "operator_id"),
    ("superuser", {}, "role must be one of"),
])
def test_user_creation_checks_role_scope(session, role, kw, error):
    with pytest.raises(ValueError, match=error):
        auth_service.create(db_session=session, username="x", password="y", role=role, **kw)


def test_passwords_are_argon2_hashed(session):
    user = auth_service.create(db_session=session, username="hash-check", password="s3cret", role="analyst")
    assert user.password_hash.startswith("$argon2id$") and "s3cret" not in user.password_hash
    assert security.verify_password(user.password_hash, "s3cret")
    assert not security.verify_password(user.password_hash, "S3cret")
