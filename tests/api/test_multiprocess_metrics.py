"""prometheus_client's multiprocess mode: several processes of one host write their metrics
to PROMETHEUS_MULTIPROC_DIR, and a scrape of any of them answers the host's sums."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from app.db.migrate import upgrade_to_head
from app.main import create_app
from app.metrics import MetricsSetupError
from tests.conftest import Database

ROOT = Path(__file__).resolve().parents[2]


async def _process(environment: dict[str, str], *arguments: str) -> str:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.multiprocess_app", *arguments,
        cwd=ROOT, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == 0, err.decode()
    return out.decode()


async def test_a_scrape_answers_the_sum_of_every_process_on_the_host(
    databases: dict[str, Database], tmp_path: Path
) -> None:
    settings = databases["sqlite"].settings
    folder = tmp_path / "metrics"
    folder.mkdir()
    # A database of the processes' own: another process closing the session's shared SQLite
    # file as its last user would remove its WAL under the suite ("disk I/O error" later).
    url = f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    environment = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "CERTSVC_DATABASE_URL": url,
        "CERTSVC_DATA_DIR": str(tmp_path),
        "CERTSVC_ID_HMAC_KEY": settings.id_hmac_key.get_secret_value(),  # type: ignore[union-attr]
        "CERTSVC_ID_ENCRYPTION_KEY": settings.id_encryption_key.get_secret_value(),  # type: ignore[union-attr]
    }
    # Two workers at once, as uvicorn --workers 2 would run them; both have exited when a
    # third process is scraped.
    await asyncio.gather(_process(environment, "serve", "2"), _process(environment, "serve", "3"))
    text = await _process(environment, "scrape")
    assert 'certsvc_http_requests_total{method="GET",route="/healthz",status="200"} 5.0' in text
    assert 'certsvc_http_request_duration_seconds_count{method="GET",route="/healthz"} 5.0' in text
    # One value for the host, not one per process: the gauge keeps the most recent.
    [uncovered] = [
        line for line in text.splitlines() if line.startswith("certsvc_calendar_uncovered_days")
    ]
    assert "pid" not in uncovered
    assert 'certsvc_payment_runs{status="pending"}' in text  # read by the scraping process
    assert len(list(folder.glob("counter_*.db"))) == 3


def test_a_multiprocess_directory_that_does_not_exist_stops_start_up(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(MetricsSetupError, match="is not a writable directory"):
        create_app(database.settings, engine=database.engine)
