"""``wlhy keys rewrap`` and ``wlhy keys drop-master-versions`` on a real database: the drop is refused (exit 2,
audited, key file unchanged) while a secret is wrapped under an old version, and works after a re-wrap."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from core.config import get_settings
from store.cluster import migration_url
from store.db import get_engine
from store.models import AuditLog
from tests.conftest import make_database

runner = CliRunner()


def test_drop_master_versions_refuses_then_works(pg_admin_dsn, tmp_path, monkeypatch):
    app_url = make_database(pg_admin_dsn)
    monkeypatch.setenv("WLHY_DATABASE_URL", app_url)
    monkeypatch.setenv("WLHY_MIGRATION_DATABASE_URL", migration_url(app_url))
    key_file = tmp_path / "mk.json"
    monkeypatch.setenv("WLHY_MASTER_KEY_FILE", str(key_file))
    monkeypatch.delenv("WLHY_MASTER_KEY", raising=False)
    monkeypatch.setenv("WLHY_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        assert runner.invoke(app, ["keys", "generate"]).exit_code == 0
        from core import secrets_wrap

        secrets_wrap.add_version()  # e.g. another host rotated the file: the stored key is under the old version
        refused = runner.invoke(app, ["keys", "drop-master-versions"])
        assert refused.exit_code == 2 and "rewrap" in refused.output
        assert len(json.loads(key_file.read_text())["keys"]) == 2
        rewrapped = runner.invoke(app, ["keys", "rewrap"])
        assert rewrapped.exit_code == 0, rewrapped.output
        assert json.loads(rewrapped.output.strip().splitlines()[-1])["rewrapped"] == 1
        dropped = runner.invoke(app, ["keys", "drop-master-versions"])
        assert dropped.exit_code == 0, dropped.output
        assert len(json.loads(dropped.output.strip().splitlines()[-1])["dropped"]) == 1
        assert len(json.loads(key_file.read_text())["keys"]) == 1
        assert runner.invoke(app, ["keys", "export"]).exit_code == 0  # the key still opens
        with Session(get_engine(app_url)) as s:
            rows = s.execute(select(AuditLog.action, AuditLog.outcome, AuditLog.username).where(
                AuditLog.action.like("%key%")).order_by(AuditLog.id)).all()
        assert [(a, o) for a, o, _ in rows] == [
            ("province_key_generate", "ok"), ("master_key_drop_versions", "refused"), ("master_key_rewrap", "ok"),
            ("master_key_drop_versions", "ok")]
        assert all(u.startswith("cli") for _, _, u in rows)
    finally:
        get_settings.cache_clear()
        get_engine(app_url).dispose()
