"""``wlhy demo up`` starts uvicorn without the database password in its environment: the URL goes password-less,
the password into a 0600 PGPASSFILE under var/, and a child process still connects with it (libpq reads it)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from sqlalchemy.engine import make_url

from simulation.demo.up import child_environment, pgpass_file
from tests.conftest import make_database

_CONNECT = ("import os; from sqlalchemy import create_engine, text; "
            "e = create_engine(os.environ['WLHY_DATABASE_URL']); "
            "print(e.connect().execute(text('SELECT current_user')).scalar())")


def test_the_child_connects_without_the_password_in_its_environment(pg_admin_dsn, tmp_path):
    url = make_database(pg_admin_dsn)
    password = make_url(url).password
    assert password
    parent = dict(os.environ) | {"WLHY_DATABASE_URL": url, "WLHY_MIGRATION_DATABASE_URL": url.replace("app", "x"),
                                 "WLHY_ADMIN_PASSWORD": "admin-secret"}
    env = child_environment(url, tmp_path / "var", parent)
    assert [k for k, v in env.items() if password in v] == []          # nowhere in the environment
    assert "WLHY_MIGRATION_DATABASE_URL" not in env and "WLHY_ADMIN_PASSWORD" not in env
    assert make_url(env["WLHY_DATABASE_URL"]).password is None
    path = pgpass_file(tmp_path / "var")
    assert env["PGPASSFILE"] == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert password in path.read_text()
    done = subprocess.run([sys.executable, "-c", _CONNECT], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == make_url(url).username
    # the clean twin: without the file the same password-less URL is refused
    path.unlink()
    refused = subprocess.run([sys.executable, "-c", _CONNECT], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "password" in refused.stderr.lower()


def test_a_url_without_password_passes_as_it_is(tmp_path):
    env = child_environment("postgresql+psycopg://app@db.example:5432/wlhy", tmp_path, {"PATH": "/usr/bin"})
    assert env == {"PATH": "/usr/bin", "WLHY_DATABASE_URL": "postgresql+psycopg://app@db.example:5432/wlhy"}
    assert not pgpass_file(tmp_path).exists()


def test_separators_in_the_password_are_escaped(tmp_path):
    env = child_environment("postgresql+psycopg://app:p%3Aw%5Cd@127.0.0.1:5432/wlhy", tmp_path, {})
    assert pgpass_file(tmp_path).read_text() == "127.0.0.1:5432:wlhy:app:p\\:w\\\\d\n"
    assert "p:w" not in env["WLHY_DATABASE_URL"]
