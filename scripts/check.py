"""The project's test command: lint, format check, strict typing, the test suite on SQLite and
PostgreSQL, then its PostgreSQL half once more through a real PgBouncer in transaction mode
(issue 18; tests/conftest.py, CERTSVC_TEST_THROUGH_PGBOUNCER). Run with the project's virtual
environment's Python; exits non-zero on the first failing step. Without pgbouncer installed the
last step is skipped with a message, except under CI=true, where it fails (.ci/run installs
it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STEPS = [
    ("ruff lint", ["-m", "ruff", "check", "."]),
    ("ruff format", ["-m", "ruff", "format", "--check", "."]),
    ("mypy --strict", ["-m", "mypy"]),
    ("pytest", ["-m", "pytest", *sys.argv[1:]]),
]
# The PostgreSQL-parametrized tests; the fault tests build their own servers and databases.
THROUGH_PGBOUNCER = ["-m", "pytest", "-k", "postgresql", "-m", "not postgres_only", *sys.argv[1:]]


def main() -> int:
    for name, args in STEPS:
        code = _step(name, args)
        if code != 0:
            return code
    name = "pytest, PostgreSQL through PgBouncer"
    if shutil.which("pgbouncer") is None and not os.path.exists("/usr/sbin/pgbouncer"):
        if os.environ.get("CI") == "true":
            print(f"== {name}: CI=true but pgbouncer is not installed", flush=True)
            return 1
        print(f"== {name}: skipped, pgbouncer is not installed", flush=True)
        return 0
    return _step(name, THROUGH_PGBOUNCER, CERTSVC_TEST_THROUGH_PGBOUNCER="1")


def _step(name: str, args: list[str], **environment: str) -> int:
    print(f"== {name}", flush=True)
    env = {**os.environ, **environment}
    code = subprocess.call([sys.executable, *args], cwd=ROOT, env=env)
    if code != 0:
        print(f"== {name} failed (exit {code})", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
