"""The certsvc command and the committed OpenAPI document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.openapi import render_openapi

ROOT = Path(__file__).resolve().parents[2]


def _certsvc(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "CERTSVC_DATA_DIR": str(tmp_path),
        "CERTSVC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_clients_create_prints_the_key_alone_on_the_last_line(tmp_path: Path) -> None:
    created = _certsvc(
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
    listed = _certsvc(tmp_path, "clients", "list")
    assert "changzhi\tcounty\t1404,140402" in listed.stdout
    assert key not in listed.stdout
    assert key.encode() not in (tmp_path / "cli.db").read_bytes()
    assert _certsvc(tmp_path, "clients", "revoke", "changzhi").returncode == 0
    assert "revoked" in _certsvc(tmp_path, "clients", "list").stdout


def test_a_county_client_without_regions_is_refused_in_one_line(tmp_path: Path) -> None:
    result = _certsvc(tmp_path, "clients", "create", "--name", "x", "--role", "county")
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
