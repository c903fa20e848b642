"""The project's test command: lint, format check, strict typing, then the test suite on SQLite
and PostgreSQL. Run with the project's virtual environment's Python; exits non-zero on the
first failing step."""

from __future__ import annotations

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


def main() -> int:
    for name, args in STEPS:
        print(f"== {name}", flush=True)
        code = subprocess.call([sys.executable, *args], cwd=ROOT)
        if code != 0:
            print(f"== {name} failed (exit {code})", flush=True)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
