"""`certsvc worker` as an operator runs it (issue 18): one process on the embedded database
runs its jobs together, sweeps the day once its time has come, and stops on SIGTERM with
every job ended cleanly."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.cli import ROOT, certsvc


def _sweeps(database: Path) -> list[str]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as connection:
        try:
            rows = connection.execute(
                "SELECT resource_id FROM audit_log WHERE action = 'sweep.completed'"
            ).fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []
    return [row[0] for row in rows]


def test_a_worker_process_sweeps_the_day_and_stops_on_sigterm(tmp_path: Path) -> None:
    database = tmp_path / "worker.db"
    environment = {
        "PATH": "/usr/bin:/bin",
        "CERTSVC_DATA_DIR": str(tmp_path),
        "CERTSVC_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "CERTSVC_SWEEP_AT": "00:00",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--poll", "0.1"],
        env=environment,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _sweeps(database) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_sweeps(database)) == 1, "the worker did not sweep the day"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    for stopped in (
        "payment run worker stopped",
        "webhook delivery worker stopped",
        "daily sweep job stopped",
        "worker stopped",
    ):
        assert stopped in output, output
    assert len(_sweeps(database)) == 1


def test_the_worker_refuses_a_job_it_does_not_know(tmp_path: Path) -> None:
    refused = certsvc(tmp_path, "worker", "--jobs", "runs,sweeps")
    assert refused.returncode == 2
    assert "not sweeps" in refused.stderr
