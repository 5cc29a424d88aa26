"""GET /api/v1/audit over real HTTP: admin only, filters, CSV with a BOM, the chain check."""

from __future__ import annotations

import csv
import io

from tests.api.conftest import login_as as _login


def test_admin_reads_logins_and_failures_others_are_refused(http, make_user):
    victim, _ = _login(http, make_user, "county", division_code="340104")
    http.post("/api/v1/auth/login", json={"username": victim, "password": "wrong-password-123"})
    _, admin = _login(http, make_user, "admin")
    r = http.get("/api/v1/audit", params={"username": victim}, headers=admin)
    assert r.status_code == 200
    got = [(i["action"], i["outcome"], i["role"]) for i in r.json()["items"]]
    assert got == [("login_failed", "refused", None), ("login", "ok", "county")]
    assert "wrong-password-123" not in r.text
    _, county = _login(http, make_user, "county", division_code="340104")
    assert http.get("/api/v1/audit", headers=county).status_code == 403


def test_csv_export_opens_in_excel_and_matches_the_json(http, make_user):
    victim, _ = _login(http, make_user, "analyst")
    _, admin = _login(http, make_user, "admin")
    r = http.get("/api/v1/audit", params={"username": victim, "format": "csv"}, headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["username"], x["action"]) for x in rows] == [(victim, "login")]


def test_chain_check_route(http, make_user):
    _, admin = _login(http, make_user, "admin")
    r = http.get("/api/v1/audit/verify", headers=admin).json()
    assert r["intact"] is True and r["rows"] >= 1
