"""Settings refuse bad values in one line; production refuses missing keys."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path

import pytest

from app.protection import load_id_protector
from app.settings import Environment, Settings, SettingsError, load_settings


def test_a_malformed_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTSVC_DATABASE_URL", "mysql://nope")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "CERTSVC_DATABASE_URL" in message
    assert "\n" not in message


def test_a_malformed_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTSVC_ID_HMAC_KEY", "short-secret")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "CERTSVC_ID_HMAC_KEY" in str(raised.value)
    assert "short-secret" not in str(raised.value)


def test_production_without_keys_stops(tmp_path: Path) -> None:
    settings = Settings(env=Environment.PRODUCTION, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="CERTSVC_ID_HMAC_KEY is required"):
        load_id_protector(settings)


def test_development_generates_keys_once_and_reuses_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_id_protector(settings)
    second = load_id_protector(settings)
    assert first == second
    key_file = tmp_path / "keys" / "id_hmac_key.key"
    assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"


def test_production_refuses_the_benchmark_ceiling_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTSVC_ENV", "production")
    monkeypatch.setenv("CERTSVC_BENCH_CEILING", "true")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message == (
        "setting CERTSVC_BENCH_CEILING is invalid: the benchmark route answers without an API "
        "key; it may not be enabled with CERTSVC_ENV=production"
    )


def test_development_may_enable_the_benchmark_ceiling_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTSVC_BENCH_CEILING", "true")
    assert load_settings().bench_ceiling is True


def test_a_read_replica_needs_postgresql_on_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTSVC_READ_DATABASE_URL", "postgresql+asyncpg://u:hunter2@replica/db")
    with pytest.raises(SettingsError, match="needs a PostgreSQL CERTSVC_DATABASE_URL") as raised:
        load_settings()
    assert "CERTSVC_READ_DATABASE_URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    monkeypatch.setenv("CERTSVC_DATABASE_URL", "postgresql+asyncpg://u@primary/db")
    monkeypatch.setenv("CERTSVC_READ_DATABASE_URL", "sqlite+aiosqlite:///replica.db")
    with pytest.raises(SettingsError, match="must start with postgresql"):
        load_settings()
    monkeypatch.setenv("CERTSVC_READ_DATABASE_URL", "postgresql+asyncpg://u@replica/db")
    assert load_settings().read_database_url == "postgresql+asyncpg://u@replica/db"


def test_without_a_read_replica_nothing_is_set() -> None:
    # An empty variable is no replica, as unset is.
    assert Settings(read_database_url="").read_database_url is None
    assert Settings().read_database_url is None


def test_the_sweep_time_is_a_beijing_wall_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTSVC_SWEEP_AT", "02:30")
    assert load_settings().sweep_at == time(2, 30)
    for refused in ("25:00", "01:00+08:00", "one o'clock"):
        monkeypatch.setenv("CERTSVC_SWEEP_AT", refused)
        with pytest.raises(SettingsError, match="CERTSVC_SWEEP_AT"):
            load_settings()
