"""``wlhy rules sweep`` from the command line: the table of anomalies fired per code, and the "not checked yet"
line when the 运政 registry is down."""

from __future__ import annotations

from sqlalchemy import text
from typer.testing import CliRunner

from cli.main import app
from core.config import get_settings
from store.cluster import migration_url
from store.db import get_engine
from tests.supervision.rules.test_sweep import province  # noqa: F401 - the committed three-day province

runner = CliRunner()


def test_rules_sweep_prints_the_codes_and_the_unchecked(province, registry_sims, sims, monkeypatch):  # noqa: F811
    url, engine = province
    for name, value in {"WLHY_DATABASE_URL": url, "WLHY_MIGRATION_DATABASE_URL": migration_url(url),
                        "WLHY_YUNZHENG_URL": registry_sims["yunzheng"].url,
                        "WLHY_NATIONAL_URL": registry_sims["national"].url, "WLHY_ADAPTER_RETRIES": "0"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        ok = runner.invoke(app, ["rules", "sweep", "--from", "2024-03-15", "--to", "2024-03-17"])
        said = " ".join(ok.output.split())
        assert ok.exit_code == 0, ok.output
        assert "QUAL_VEHICLE_CERT" in said and "VEHICLE_NOT_IN_NETWORK" in said and "not decided" not in said
        sims.fault("yunzheng", "down")
        cached = runner.invoke(app, ["rules", "sweep", "--from", "2024-03-15", "--to", "2024-03-17"])
        assert cached.exit_code == 0 and "not decided" not in cached.output   # today's answers are cached
        with engine.begin() as c:                                           # as if it were another day
            c.execute(text("DELETE FROM registry_answer"))
        down = runner.invoke(app, ["rules", "sweep", "--from", "2024-03-15", "--to", "2024-03-17"])
        said = " ".join(down.output.split())
        assert down.exit_code == 0 and "registry checks not decided (registry unavailable)" in said
        bad = runner.invoke(app, ["rules", "sweep", "--from", "2024-03-17", "--to", "2024-03-15"])
        assert bad.exit_code != 0
    finally:
        get_settings.cache_clear()
        get_engine(url).dispose()
