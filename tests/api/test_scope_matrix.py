"""Role × scope over real HTTP: the message archive shows each user only what its Scope allows."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from store.models import Message, Operator


@pytest.fixture(scope="module")
def two_counties(engine):
    """Operator A in 蜀山区 (340104), operator B in 瑶海区 (340102), one message each, one unattributed."""
    tag = uuid.uuid4().hex[:8]
    with Session(engine) as s:
        a = Operator(usci=f"91340104{tag}A", name="A", division_code="340104")
        b = Operator(usci=f"91340102{tag}B", name="B", division_code="340102")
        s.add_all([a, b])
        s.flush()
        msgs = [Message(operator_id=a.id, ipc_type=f"T{tag}", result_code=1001),
                Message(operator_id=b.id, ipc_type=f"T{tag}", result_code=1001),
                Message(operator_id=None, ipc_type=f"T{tag}", result_code=1002)]
        s.add_all(msgs)
        s.commit()
        return {"tag": f"T{tag}", "a": a.id, "b": b.id, "msgs": [m.id for m in msgs]}


def _login(http, make_user, role, **kw):
    username, password = make_user(role, **kw)
    token = http.post("/api/v1/auth/login", json={"username": username, "password": password}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _seen(http, headers, tag, **params):
    r = http.get("/api/v1/exchange/messages", params={"ipc_type": tag, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return sorted(m["operatorId"] or 0 for m in r.json()["items"])


def test_message_archive_by_role_and_scope(http, make_user, two_counties):
    t, a, b = two_counties["tag"], two_counties["a"], two_counties["b"]
    assert _seen(http, _login(http, make_user, "county", division_code="340104"), t) == [a]
    assert _seen(http, _login(http, make_user, "county", division_code="340102"), t) == [b]
    assert _seen(http, _login(http, make_user, "city", division_code="340100"), t) == sorted([a, b])
    assert _seen(http, _login(http, make_user, "city", division_code="340200"), t) == []      # 芜湖市
    assert _seen(http, _login(http, make_user, "province", division_code="340000"), t) == sorted([0, a, b])
    assert _seen(http, _login(http, make_user, "operator", operator_id=a), t) == [a]
    # asking for another platform's messages by filter still shows nothing of it
    assert _seen(http, _login(http, make_user, "operator", operator_id=a), t, operator_id=b) == []
    assert _seen(http, _login(http, make_user, "county", division_code="340104"), t, operator_id=b) == []


def test_outbox_is_for_province_wide_staff_only(http, make_user):
    assert http.get("/api/v1/exchange/outbox",
                    headers=_login(http, make_user, "county", division_code="340104")).status_code == 403
    assert http.get("/api/v1/exchange/outbox",
                    headers=_login(http, make_user, "province", division_code="340000")).status_code == 200
