"""The dashboard over real HTTP: mounted at /dashboard, login through auth (cookie HttpOnly + SameSite=Strict,
audited, throttled), pages and callbacks refused without it, /docs and every page free of external URLs."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import AuditLog
from tests.dashboard.conftest import http_login

_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def test_pages_need_a_login_and_callbacks_answer_401(live_url):
    with httpx.Client(base_url=live_url, timeout=30) as c:
        r = c.get("/dashboard/")
        assert r.status_code == 302 and r.headers["location"].endswith("/dashboard/login")
        assert c.get("/dashboard/login").status_code == 200
        assert c.post("/dashboard/_dash-update-component", json={}).status_code == 401
        assert c.get("/dashboard/_dash-layout").status_code == 401


def test_login_sets_an_httponly_strict_cookie_and_is_audited(live_url, make_user, engine):
    username, password = make_user("province", division_code="340000")
    with httpx.Client(base_url=live_url, timeout=30) as c:
        bad = c.post("/dashboard/login", data={"username": username, "password": "wrong"})
        assert bad.status_code == 401 and "用户名或密码错误" in bad.text
        ok = c.post("/dashboard/login", data={"username": username, "password": password})
        assert ok.status_code == 302
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
        assert c.get("/dashboard/").status_code == 200
        assert c.get("/dashboard/_dash-layout").status_code == 200
        # logout revokes the token: the same cookie no longer opens anything
        token = c.cookies.get("wlhy_dash_token")
        c.get("/dashboard/logout")
    with httpx.Client(base_url=live_url, timeout=30, cookies={"wlhy_dash_token": token}) as c2:
        assert c2.get("/dashboard/_dash-layout").status_code == 401
    with Session(engine) as s:
        actions = s.scalars(select(AuditLog.action).where(AuditLog.username == username)).all()
    assert "login_failed" in actions and "login" in actions


def test_login_is_throttled_like_the_api(live_url, make_user):
    username, _ = make_user("county", division_code="340104")
    with httpx.Client(base_url=live_url, timeout=60) as c:
        codes = [c.post("/dashboard/login", data={"username": username, "password": "x"}).status_code
                 for _ in range(7)]
    assert 429 in codes, codes


def test_docs_and_dashboard_reference_no_external_url(live_url, make_user):
    with httpx.Client(base_url=live_url, timeout=30) as c:
        docs = c.get("/docs")
        assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
        assert not _EXTERNAL.search(docs.text), docs.text
        assert c.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
        assert c.get("/redoc").status_code == 404
        assert not _EXTERNAL.search(c.get("/dashboard/login").text)
    username, password = make_user("admin")
    c = http_login(live_url, username, password)
    try:
        index = c.get("/dashboard/waybill")
        assert index.status_code == 200
        assert not _EXTERNAL.search(index.text), index.text
        scripts = re.findall(r'src="([^"]+)"', index.text)
        assert scripts and all(s.startswith("/dashboard/") for s in scripts), scripts
    finally:
        c.close()


def test_big_answers_are_gzipped(live_url, make_user):
    """The JavaScript bundles and the maps' JSON (binary attributes as base64) travel compressed."""
    username, password = make_user("admin")
    c = http_login(live_url, username, password)
    try:
        index = c.get("/dashboard/density")
        bundle = next(s for s in re.findall(r'src="([^"]+)"', index.text) if "deckgl_dash" in s)
        r = c.get(bundle, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        assert r.num_bytes_downloaded < len(r.content) / 2  # 3.2 MB of JavaScript, under half on the wire
    finally:
        c.close()


def test_attachment_download_applies_scope(live_url, make_user, engine):
    from store.models import Alarm, Operator, Rectification
    from supervision.alarms.attachments import Upload, store_all

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"http-test"
    with Session(engine) as s:
        alarm = s.scalars(select(Alarm).where(Alarm.operator_id.is_not(None), Alarm.division_code.is_not(None))
                          .order_by(Alarm.id)).first()
        if alarm is None:
            import pytest

            pytest.skip("the small province raised no alarm")
        other = s.scalars(select(Operator.id).where(Operator.id != alarm.operator_id)).first()
        meta = store_all([Upload(filename="整改照片.png", data=png)])
        s.add(Rectification(alarm_id=alarm.id, text="http test", attachments=meta))
        s.commit()
        alarm_id, division, operator_id = alarm.id, alarm.division_code, alarm.operator_id
    url = f"/dashboard/attachment/alarm/{alarm_id}/{meta[0]['digest']}"
    with httpx.Client(base_url=live_url, timeout=30) as anonymous:
        assert anonymous.get(url).status_code == 302  # to the login page
    for role, kw, status in (("county", {"division_code": division[:6]}, 200),
                             ("operator", {"operator_id": operator_id}, 200),
                             ("operator", {"operator_id": other}, 404)):
        username, password = make_user(role, **kw)
        c = http_login(live_url, username, password)
        try:
            r = c.get(url)
            assert r.status_code == status, (role, kw, r.text[:200])
            if status == 200:
                assert r.content == png and r.headers["content-type"] == "image/png"
                assert "attachment;" in r.headers["content-disposition"]
            assert c.get(url[:-4] + "0000").status_code == 404  # not one of its attachments
        finally:
            c.close()
