"""The certsvc command and the committed OpenAPI document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.openapi import render_openapi
from tests.cli import ROOT, certsvc


def test_clients_create_prints_the_key_alone_on_the_last_line(tmp_path: Path) -> None:
    created = certsvc(
        tmp_path,
        "clients",
        "create",
        "--name",
        "changzhi",
        "--role",
        "county",
        "--regions",
        "1404,140402",
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("csk_") and " " not in key
    listed = certsvc(tmp_path, "clients", "list")
    assert "changzhi\tcounty\t1404,140402" in listed.stdout
    assert key not in listed.stdout
    assert key.encode() not in (tmp_path / "cli.db").read_bytes()
    assert certsvc(tmp_path, "clients", "revoke", "changzhi").returncode == 0
    assert "revoked" in certsvc(tmp_path, "clients", "list").stdout


def test_a_county_client_without_regions_is_refused_in_one_line(tmp_path: Path) -> None:
    result = certsvc(tmp_path, "clients", "create", "--name", "x", "--role", "county")
    assert result.returncode == 1
    assert result.stderr.strip() == "certsvc: a county client needs at least one region"


def test_a_bad_setting_stops_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    env_url = "CERTSVC_DATABASE_URL"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", env_url: "oracle://x", "CERTSVC_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert env_url in result.stderr


def test_committed_openapi_yaml_matches_what_the_app_serves() -> None:
    committed = (ROOT / "openapi.yaml").read_text()
    assert committed == render_openapi(), "run `certsvc openapi` and commit openapi.yaml"


def test_serve_in_production_with_the_ceiling_route_refuses_to_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "CERTSVC_DATA_DIR": str(tmp_path),
            "CERTSVC_ENV": "production",
            "CERTSVC_BENCH_CEILING": "1",
        },
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("certsvc: setting CERTSVC_BENCH_CEILING is invalid")
    assert "CERTSVC_ENV=production" in lines[0]


def test_a_client_key_may_be_given_an_expiry_which_the_list_shows(tmp_path: Path) -> None:
    created = certsvc(
        tmp_path, "clients", "create", "--name", "pay", "--role", "payment", "--expires-in", "30"
    )
    assert created.returncode == 0, created.stderr
    assert " expires=" in created.stdout.splitlines()[0]
    dated = certsvc(
        tmp_path, "clients", "create", "--name", "pay2", "--role", "payment",
        "--expires-on", "2099-01-31",
    )  # fmt: skip
    assert "expires=2099-01-31T00:00:00+08:00" in dated.stdout  # midnight in Beijing
    listed = certsvc(tmp_path, "clients", "list").stdout
    assert "pay2\tpayment\t-\tcsk_" in listed
    assert "active until 2099-01-31T00:00:00+08:00" in listed


def test_a_key_cannot_be_created_expired_or_with_two_expiries(tmp_path: Path) -> None:
    past = certsvc(
        tmp_path, "clients", "create", "--name", "x", "--role", "payment",
        "--expires-on", "2020-01-01",
    )  # fmt: skip
    assert past.returncode == 1
    assert past.stderr.strip() == "certsvc: the key's expiry must be in the future"
    both = certsvc(
        tmp_path, "clients", "create", "--name", "x", "--role", "payment",
        "--expires-on", "2099-01-01", "--expires-in", "3",
    )  # fmt: skip
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def test_serve_hands_the_trusted_proxies_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from app import cli
    from app.settings import get_settings

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("CERTSVC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CERTSVC_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}")
    get_settings.cache_clear()
    try:
        assert cli.main(["serve", "--forwarded-allow-ips", "10.0.0.5,10.0.0.6"]) == 0
        assert cli.main(["serve"]) == 0
    finally:
        get_settings.cache_clear()
    assert calls[0]["proxy_headers"] is True
    assert calls[0]["forwarded_allow_ips"] == "10.0.0.5,10.0.0.6"
    assert calls[1]["forwarded_allow_ips"] is None  # uvicorn's default: 127.0.0.1
