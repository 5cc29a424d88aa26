"""The one settings object: environment variable names, validators."""

from __future__ import annotations

from core.config import Settings


def test_every_setting_is_documented():
    assert all(f.description for f in Settings.model_fields.values())


def test_ministry_settings_keep_their_environment_names(monkeypatch):
    monkeypatch.setenv("WLHY_MINISTRY_URL", "http://10.0.0.9:8100")
    monkeypatch.setenv("WLHY_MINISTRY_USER_NAME", "anhui")
    monkeypatch.setenv("WLHY_MINISTRY_PUBLIC_KEY_HEX", "04ab")
    monkeypatch.setenv("WLHY_MINISTRY_SERIALISATION", "xml")
    monkeypatch.setenv("WLHY_MINISTRY_MAX_ATTEMPTS", "3")
    s = Settings()
    assert (s.ministry_url, s.ministry_user_name, s.ministry_public_key_hex) == ("http://10.0.0.9:8100", "anhui",
                                                                                 "04ab")
    assert (s.ministry_serialisation, s.ministry_max_attempts) == ("xml", 3)


def test_adapter_urls_lose_a_trailing_slash_and_database_urls_get_psycopg(monkeypatch):
    monkeypatch.setenv("WLHY_TAX_URL", "http://10.0.0.5:9003/")
    monkeypatch.setenv("WLHY_DATABASE_URL", "postgresql://u@h:5432/db")
    s = Settings()
    assert s.tax_url == "http://10.0.0.5:9003"
    assert s.database_url == "postgresql+psycopg://u@h:5432/db"
    assert Settings(database_url="postgres://h/db").database_url == "postgresql+psycopg://h/db"
