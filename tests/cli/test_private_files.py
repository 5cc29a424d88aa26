"""Every ``wlhy`` command keeps var/ private (umask 077, earlier files tightened); ``wlhy keys rotate`` on an
external server given by WLHY_DATABASE_URL (app role) and WLHY_MIGRATION_DATABASE_URL (owner)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.config import get_settings
from store.cluster import migration_url
from store.db import get_engine
from tests.conftest import make_database

runner = CliRunner()


@pytest.fixture
def restore_umask():
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_commands_make_var_private(tmp_path, monkeypatch, restore_umask):
    var = tmp_path / "var"
    (var / "demo").mkdir(parents=True)
    os.chmod(var / "demo", 0o755)
    old = var / "demo" / "drivers.jsonl"
    old.write_text('{"idNumber": "34010419900307001X"}\n')
    os.chmod(old, 0o644)
    monkeypatch.setenv("WLHY_VAR_DIR", str(var))
    monkeypatch.setenv("WLHY_DATABASE_URL", "postgresql://wlhy_app:s3cret@127.0.0.1:1/wlhy")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["db", "url"])
        assert result.exit_code == 0, result.output
        assert "s3cret" not in result.output and "wlhy_app" in result.output
        assert _mode(old) == 0o600 and _mode(var / "demo") == 0o700
        assert _mode(var) in (0o700, 0o711)
        new = var / "demo" / "new.jsonl"  # what the generator writes next, under the command's umask
        new.write_text("{}\n")
        (var / "logs").mkdir()
        assert _mode(new) == 0o600 and _mode(var / "logs") == 0o700
    finally:
        get_settings.cache_clear()


def test_keys_rotate_rewraps_under_a_new_master_key(pg_admin_dsn, tmp_path, monkeypatch):
    app_url = make_database(pg_admin_dsn)
    monkeypatch.setenv("WLHY_DATABASE_URL", app_url)
    monkeypatch.setenv("WLHY_MIGRATION_DATABASE_URL", migration_url(app_url))
    monkeypatch.setenv("WLHY_MASTER_KEY_FILE", str(tmp_path / "mk.json"))
    monkeypatch.delenv("WLHY_MASTER_KEY", raising=False)
    monkeypatch.setenv("WLHY_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    old_umask = os.umask(0o022)
    try:
        first = runner.invoke(app, ["keys", "generate"])
        assert first.exit_code == 0, first.output
        rotated = runner.invoke(app, ["keys", "rotate", "--overlap-days", "1"])
        assert rotated.exit_code == 0, rotated.output
        out = json.loads(rotated.output.strip().splitlines()[-1])
        assert out["keyId"] != json.loads(first.output)["keyId"]
        ring = json.loads((tmp_path / "mk.json").read_text())
        assert ring["current"] == out["masterKeyId"] and len(ring["keys"]) == 2
        assert _mode(tmp_path / "mk.json") == 0o600
        from sqlalchemy import text

        with get_engine(app_url).connect() as conn:
            kids = {v.split(":")[1] for v in conn.execute(
                text("SELECT private_key_wrapped FROM province_key")).scalars()}
        assert kids == {out["masterKeyId"]}
        exported = runner.invoke(app, ["keys", "export"])
        assert exported.exit_code == 0 and exported.output.strip() == out["publicKey"]
    finally:
        os.umask(old_umask)
        get_settings.cache_clear()
        get_engine(app_url).dispose()
