"""The audit log on a real PostGIS: sealed into an SM3 chain at commit, append-only, tampering found."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from auth import audit
from auth.scope import Scope
from etl.exchange import sm3
from store.models import AppUser, AuditLog
from tests.conftest import make_database


@pytest.fixture
def eng(pg_admin_dsn):
    # Own database, as the superuser: these tests tamper with the log on purpose (disabling its triggers).
    e = create_engine(make_database(pg_admin_dsn, role="admin"))
    yield e
    e.dispose()


def _write(eng, n: int, start: int = 0) -> None:
    scope = Scope.of(AppUser(id=1, username="admin", role="admin"))
    with Session(eng) as s:
        for k in range(start, start + n):
            audit.record(s, "account_issue", scope=scope, target=f"account:{k}", ip="127.0.0.1",
                         detail={"k": k, "名称": "测试"})
        s.commit()


def _check(eng) -> audit.ChainCheck:
    with Session(eng) as s:
        return audit.verify(s)


def test_rows_are_sealed_at_commit_into_an_sm3_chain(eng):
    _write(eng, 3)
    _write(eng, 2, start=3)
    with Session(eng) as s:
        rows = s.query(AuditLog).order_by(AuditLog.chain_seq).all()
        assert [r.chain_seq for r in rows] == [1, 2, 3, 4, 5]
        assert rows[0].prev_hash is None and all(b.prev_hash == a.row_hash for a, b in zip(rows, rows[1:]))
        assert rows[0].role == "admin" and rows[0].outcome == "ok"
        # the hash is SM3 over the previous hash and the row's canonical text, checked with our own SM3
        row_text = s.execute(text("SELECT wlhy_audit_row_text(a) FROM audit_log a WHERE chain_seq = 2")).scalar_one()
        assert sm3.sm3_digest((rows[0].row_hash + row_text).encode()).hex() == rows[1].row_hash
    assert _check(eng).intact and _check(eng).rows == 5


def test_a_rolled_back_action_leaves_no_row_and_no_gap(eng):
    _write(eng, 1)
    with Session(eng) as s:
        audit.record(s, "key_rotate", username="x")
        s.rollback()
    _write(eng, 1, start=1)
    assert _check(eng).intact and _check(eng).rows == 2


def test_updates_deletes_and_truncate_are_refused(eng):
    _write(eng, 2)
    for stmt in ("UPDATE audit_log SET action = 'nothing' WHERE chain_seq = 1",
                 "DELETE FROM audit_log WHERE chain_seq = 2", "TRUNCATE audit_log"):
        with eng.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(stmt))
    assert _check(eng).intact


def _tamper(eng, stmt: str) -> None:
    # What an attacker with the owner's rights could do: switch the guard off, change history, switch it on.
    with eng.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        conn.execute(text(stmt))
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


@pytest.mark.parametrize(("stmt", "broken_at", "reason"), [
    ("UPDATE audit_log SET target = 'account:99' WHERE chain_seq = 3", 3, "edited"),
    ("UPDATE audit_log SET detail = '{\"k\": 1}' WHERE chain_seq = 2", 2, "edited"),
    ("DELETE FROM audit_log WHERE chain_seq = 2", 3, "deleted"),
    ("DELETE FROM audit_log WHERE chain_seq = 4", 4, "deleted"),  # the tail: seen against the head
])
def test_an_edited_or_deleted_row_breaks_the_chain_where_it_was(eng, stmt, broken_at, reason):
    _write(eng, 4)
    _tamper(eng, stmt)
    check = _check(eng)
    assert not check.intact and check.broken_at == broken_at and reason in check.reason
