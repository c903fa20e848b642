"""The ``certsvc`` command as an operator runs it: a subprocess on an embedded SQLite database
in ``tmp_path``, with a bare environment and ``env`` on top."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def certsvc(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "CERTSVC_DATA_DIR": str(tmp_path),
        "CERTSVC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
