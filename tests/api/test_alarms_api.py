"""Alarms over real HTTP: shown at the operator's login until acknowledged, scope per role, the whole lifecycle
with the right roles (wrong ones refused, illegal steps 409), rectification attachments checked by content and
size, stored 0600 with their SM3 digest, never served to another operator; CSV."""

from __future__ import annotations

import csv
import io
import os
import stat

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import get_settings
from etl.exchange.sm3 import sm3_digest
from store.models import Alarm, AlarmEvent, AuditLog
from supervision.alarms import service
from supervision.alarms.attachments import attachment_dir
from tests.api.conftest import login_as
from tests.supervision.alarms.helpers import flag, operator, waybills

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03" + b"\x00" * 64


@pytest.fixture(autouse=True, scope="module")
def attachments_in_tmp(tmp_path_factory):
    """Attachments of this module go to a temporary directory (the live server reads the settings per call)."""
    os.environ["WLHY_ATTACHMENTS_DIR"] = str(tmp_path_factory.mktemp("attachments"))
    get_settings.cache_clear()
    yield
    del os.environ["WLHY_ATTACHMENTS_DIR"]
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def world(engine):
    """Operator A (合肥 蜀山 340104) over the TRACK threshold, operator B (340102) clean; A's alarm raised."""
    with Session(engine) as s:
        a, b = operator(s, "340104", "甲平台"), operator(s, "340102", "乙平台")
        flag(s, a, waybills(s, a, 20)[:2])  # 10 %: warning
        waybills(s, b, 20)
        service.evaluate(s, operator_id=a.id)
        s.commit()
        [alarm] = s.scalars(select(Alarm).where(Alarm.operator_id == a.id)).all()
        return {"a": a.id, "b": b.id, "alarm": alarm.id}


def _h(http, make_user, role, **kw):
    return login_as(http, make_user, role, **kw)[1]


def _login(http, make_user, role, **kw):
    username, password = make_user(role, **kw)
    r = http.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json(), {"Authorization": f"Bearer {r.json()['access_token']}"}


def _event(http, headers, alarm_id, action, text=None, files=None):
    if files is None:
        return http.post(f"/api/v1/alarms/{alarm_id}/events", json={"action": action, "text": text}, headers=headers)
    data = {"action": action, **({"text": text} if text else {})}
    return http.post(f"/api/v1/alarms/{alarm_id}/events", data=data, files=files, headers=headers)


def test_login_shows_the_operators_unacknowledged_alarm_and_scope_per_role(http, make_user, world):
    answer, _ = _login(http, make_user, "operator", operator_id=world["a"])
    [shown] = answer["alarms"]
    assert shown["id"] == world["alarm"] and shown["group"] == "TRACK" and shown["level"] == "warning"
    assert shown["rate"] == pytest.approx(0.1) and "运输轨迹异常" in shown["textZh"] and "2 of 20" in shown["textEn"]
    assert _login(http, make_user, "operator", operator_id=world["b"])[0]["alarms"] == []
    assert _login(http, make_user, "county", division_code="340104")[0]["alarms"] == []

    def ids(headers):
        r = http.get("/api/v1/alarms", params={"limit": 1000}, headers=headers)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    assert world["alarm"] in ids(_h(http, make_user, "county", division_code="340104"))
    assert world["alarm"] not in ids(_h(http, make_user, "county", division_code="340102"))
    assert world["alarm"] in ids(_h(http, make_user, "city", division_code="340100"))
    assert world["alarm"] in ids(_h(http, make_user, "province", division_code="340000"))
    assert world["alarm"] not in ids(_h(http, make_user, "operator", operator_id=world["b"]))
    assert http.get("/api/v1/alarms", headers=_h(http, make_user, "analyst")).status_code == 403
    other_county = _h(http, make_user, "county", division_code="340102")
    assert http.get(f"/api/v1/alarms/{world['alarm']}", headers=other_county).status_code == 404


def test_csv_of_the_alarm_list_and_evaluation_on_demand(http, make_user, world):
    county = _h(http, make_user, "county", division_code="340104")
    assert http.post("/api/v1/alarms", headers=county).status_code == 403  # the province runs it
    r = http.post("/api/v1/alarms", headers=_h(http, make_user, "province", division_code="340000"))
    assert r.status_code == 200 and world["alarm"] not in r.json()["raised"]  # open already: not raised twice
    r = http.get("/api/v1/alarms", params={"format": "csv", "limit": 1000}, headers=county)
    assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
    rows = [x for x in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))) if x["id"] == str(world["alarm"])]
    assert rows[0]["groupZh"] == "运输轨迹异常" and rows[0]["status"] in service.STATUS_ZH


def test_the_whole_lifecycle_with_the_right_roles(http, make_user, world, engine):
    aid = world["alarm"]
    op = _h(http, make_user, "operator", operator_id=world["a"])
    county = _h(http, make_user, "county", division_code="340104")
    other_county = _h(http, make_user, "county", division_code="340102")
    city = _h(http, make_user, "city", division_code="340100")
    analyst = _h(http, make_user, "analyst")
    # who may not, and what does not apply
    assert _event(http, county, aid, "acknowledge").status_code == 403  # the operator acknowledges
    assert _event(http, analyst, aid, "acknowledge").status_code == 403
    assert _event(http, op, aid, "accept").status_code == 403  # the regulator accepts
    r = _event(http, county, aid, "accept")
    assert r.status_code == 409 and "OPEN" in r.json()["detail"]
    assert _event(http, op, aid, "fly").status_code == 422
    # OPEN → ACKNOWLEDGED: no longer shown at login
    r = _event(http, op, aid, "acknowledge", "收到")
    assert r.status_code == 200 and r.json()["status"] == "ACKNOWLEDGED"
    answer, _ = _login(http, make_user, "operator", operator_id=world["a"])
    assert aid not in [x["id"] for x in answer["alarms"]]
    assert _event(http, op, aid, "acknowledge").status_code == 409
    assert _event(http, op, aid, "submit").status_code == 422  # a rectification needs its text
    # ACKNOWLEDGED → RECTIFICATION_SUBMITTED with two files (multipart)
    r = _event(http, op, aid, "submit_rectification", "已补传轨迹，整改报告见附件",
               files=[("files", ("报告.pdf", PDF, "application/pdf")), ("files", ("照片.png", PNG, "image/png"))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "RECTIFICATION_SUBMITTED"
    [rect] = body["rectifications"]
    assert [m["kind"] for m in rect["attachments"]] == ["pdf", "png"]
    assert rect["attachments"][0]["digest"] == sm3_digest(PDF).hex()
    # another county cannot review it (not its alarm); this county rejects; the operator sees it again at login
    assert _event(http, other_county, aid, "reject", "不行").status_code == 404
    assert _event(http, county, aid, "reject").status_code == 422  # a rejection says why
    r = _event(http, county, aid, "reject", "轨迹仍不完整")
    assert r.status_code == 200 and r.json()["status"] == "REJECTED"
    assert r.json()["rectifications"][0]["reviewStatus"] == "rejected"
    answer, _ = _login(http, make_user, "operator", operator_id=world["a"])
    assert [x["status"] for x in answer["alarms"] if x["id"] == aid] == ["REJECTED"]
    # REJECTED → ACKNOWLEDGED → RECTIFICATION_SUBMITTED → ACCEPTED (the city, above the county) → CLOSED
    assert _event(http, op, aid, "submit", "再次提交").status_code == 409  # acknowledge the rejection first
    assert _event(http, op, aid, "acknowledge").json()["status"] == "ACKNOWLEDGED"
    assert _event(http, op, aid, "submit", "已全部补传").json()["status"] == "RECTIFICATION_SUBMITTED"
    assert _event(http, city, aid, "accept", "通过").json()["status"] == "ACCEPTED"
    assert _event(http, op, aid, "close").status_code == 403
    assert _event(http, op, aid, "undo").status_code == 422  # no such action: refused, and on record
    r = _event(http, county, aid, "close", "结案")
    assert r.json()["status"] == "CLOSED" and r.json()["closedAt"]
    assert _event(http, county, aid, "close").status_code == 409
    # every transition is an event (who, when, from → to, text) and an audit row
    with Session(engine) as s:
        evs = s.execute(select(AlarmEvent.action, AlarmEvent.from_status, AlarmEvent.to_status, AlarmEvent.user_id,
                               AlarmEvent.text).where(AlarmEvent.alarm_id == aid).order_by(AlarmEvent.id)).all()
        assert [(e.action, e.from_status, e.to_status) for e in evs] == [
            ("raise", None, "OPEN"), ("acknowledge", "OPEN", "ACKNOWLEDGED"),
            ("submit_rectification", "ACKNOWLEDGED", "RECTIFICATION_SUBMITTED"),
            ("reject", "RECTIFICATION_SUBMITTED", "REJECTED"), ("acknowledge", "REJECTED", "ACKNOWLEDGED"),
            ("submit_rectification", "ACKNOWLEDGED", "RECTIFICATION_SUBMITTED"),
            ("accept", "RECTIFICATION_SUBMITTED", "ACCEPTED"), ("close", "ACCEPTED", "CLOSED")]
        assert all(e.user_id is not None for e in evs[1:]) and evs[3].text == "轨迹仍不完整"
        audits = s.execute(select(AuditLog.action, AuditLog.outcome).where(AuditLog.target == f"alarm:{aid}")).all()
        assert sum(1 for a in audits if a.outcome == "ok" and a.action != "alarm_raise") == 7
        assert ("alarm_accept", "refused") in [(a.action, a.outcome) for a in audits]
        assert ("alarm_event", "refused") in [(a.action, a.outcome) for a in audits]
    # closed: a new evaluation over the same documents raises nothing new
    with Session(engine) as s:
        assert service.evaluate(s, operator_id=world["a"]).raised == []
        s.commit()


@pytest.fixture
def submitted(http, make_user, engine):
    """A fresh operator with an acknowledged alarm, ready for a rectification."""
    with Session(engine, expire_on_commit=False) as s:
        a, stranger = operator(s, "340104", "丙平台"), operator(s, "340104", "丁平台")
        flag(s, a, waybills(s, a, 20)[:4])
        [aid] = service.evaluate(s, operator_id=a.id).raised
        s.commit()
    op = _h(http, make_user, "operator", operator_id=a.id)
    assert _event(http, op, aid, "acknowledge").status_code == 200
    return {"operator": a.id, "stranger": stranger.id, "alarm": aid, "headers": op}


def test_attachments_are_checked_by_content_and_limited(http, submitted, engine):
    aid, op = submitted["alarm"], submitted["headers"]
    limit = get_settings().attachment_max_bytes
    r = _event(http, op, aid, "submit", "报告", files=[("files", ("report.pdf", EXE, "application/pdf"))])
    assert r.status_code == 422 and "content" in r.json()["detail"]  # named .pdf, but an executable
    big = PDF + b"0" * (limit + 1 - len(PDF))
    r = _event(http, op, aid, "submit", "报告", files=[("files", ("big.pdf", big, "application/pdf"))])
    assert r.status_code == 422 and "larger" in r.json()["detail"]
    six = [("files", (f"p{i}.png", PNG, "image/png")) for i in range(get_settings().attachment_max_files + 1)]
    assert _event(http, op, aid, "submit", "报告", files=six).status_code == 422
    # nothing of the refused submissions changed the alarm, and each refusal is an audit row with its reason
    assert http.get(f"/api/v1/alarms/{aid}", headers=op).json()["status"] == "ACKNOWLEDGED"
    with Session(engine) as s:
        reasons = s.scalars(select(AuditLog.detail["reason"].astext).where(
            AuditLog.target == f"alarm:{aid}", AuditLog.action == "alarm_submit_rectification",
            AuditLog.outcome == "refused").order_by(AuditLog.id)).all()
    assert len(reasons) == 3 and "content" in reasons[0] and "larger" in reasons[1]
    exactly = PDF + b"0" * (limit - len(PDF))
    r = _event(http, op, aid, "submit", "报告", files=[("files", ("ok.pdf", exactly, "application/pdf"))])
    assert r.status_code == 200, r.text


def test_attachment_stored_0600_with_its_digest_and_never_served_to_another_operator(http, make_user, submitted):
    aid, op = submitted["alarm"], submitted["headers"]
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(200)
    r = _event(http, op, aid, "submit", "整改照片", files=[("files", ("现场.jpg", jpeg, "image/jpeg"))])
    [meta] = r.json()["rectifications"][0]["attachments"]
    digest = meta["digest"]
    path = attachment_dir() / digest[:2] / digest
    assert path.read_bytes() == jpeg and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.tmp"))  # written then renamed: no temporary file left
    url = f"/api/v1/alarms/{aid}/attachments/{digest}"
    r = http.get(url, headers=op)
    assert r.status_code == 200 and r.content == jpeg and r.headers["content-type"] == "image/jpeg"
    county = _h(http, make_user, "county", division_code="340104")
    assert http.get(url, headers=county).content == jpeg
    stranger = _h(http, make_user, "operator", operator_id=submitted["stranger"])
    assert http.get(url, headers=stranger).status_code == 404
    other_county = _h(http, make_user, "county", division_code="340102")
    assert http.get(url, headers=other_county).status_code == 404
    assert http.get(f"/api/v1/alarms/{aid}/attachments/{'0' * 64}", headers=op).status_code == 404
    assert http.get(f"/api/v1/alarms/{aid}/attachments/..%2F..%2Fetc", headers=op).status_code == 404
