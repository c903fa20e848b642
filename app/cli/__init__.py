"""The ``certsvc`` command: serve, migrate, manage API clients and the official calendar,
write the OpenAPI document.

One module per feature adds its commands (`server`, `clients`, `imports`, `jobs`, `keys`,
`calendar`); every command that touches the database runs on the composition root through
`runner.run_with` (`app/runtime.py`), which builds the engine, sessions, policies and keys once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.cli import calendar, clients, imports, jobs, keys, server
from app.cli.runner import run_with, with_session
from app.domain.policy import PolicyError
from app.settings import SettingsError

__all__ = ["main", "run_with", "with_session"]

_DESCRIPTION = (
    "The ``certsvc`` command: serve, migrate, manage API clients and the official calendar,\n"
    "write the OpenAPI document."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except (SettingsError, PolicyError) as exc:
        print(f"certsvc: {exc}", file=sys.stderr)
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certsvc", description=_DESCRIPTION)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    # In the order `certsvc --help` lists them.
    server.add_serve(commands)
    server.add_migrate(commands)
    clients.add_commands(commands)
    imports.add_commands(commands)
    jobs.add_sweep(commands)
    jobs.add_report(commands)
    jobs.add_worker(commands)
    jobs.add_deliver(commands)
    keys.add_commands(commands)
    calendar.add_commands(commands)
    server.add_openapi(commands)
    return parser
