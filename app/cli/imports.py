"""``certsvc import-certifications``: past certifications from the provincial platform."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.runner import run_with

if TYPE_CHECKING:
    from app.runtime import Runtime
    from app.services.certifications.imports import ImportSummary


def add_commands(commands: Any) -> None:
    from app.services.certifications.imports import COLUMNS

    importer = commands.add_parser(
        "import-certifications", help="load past certifications from the provincial platform"
    )
    importer.add_argument("file", type=Path, help="CSV: " + ",".join(COLUMNS))
    importer.add_argument("--rejects", type=Path, help="default: FILE.rejected.csv")
    importer.add_argument("--client", default="legacy-import", help="system client to credit")
    importer.set_defaults(handler=_import_certifications)


def _import_certifications(args: argparse.Namespace) -> int:
    from app.services.certifications.imports import import_certifications

    if not args.file.is_file():
        print(f"certsvc: no file {args.file}", file=sys.stderr)
        return 1
    rejects = args.rejects or args.file.with_suffix(".rejected.csv")
    started = time.monotonic()

    def progress(summary: ImportSummary) -> None:
        rate = summary.rows / max(time.monotonic() - started, 1e-9)
        print(
            f"\r{summary.rows:>10,} rows  {summary.loaded:>10,} loaded  "
            f"{summary.rejected:>8,} rejected  {rate:>8,.0f} rows/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    async def run(runtime: Runtime) -> ImportSummary:
        return await import_certifications(
            runtime.sessions, runtime.protector, args.file, rejects, args.client, progress
        )

    summary = run_with(run)
    elapsed = time.monotonic() - started
    print(file=sys.stderr)
    print(
        f"rows {summary.rows}, loaded {summary.loaded}, already present "
        f"{summary.already_present}, rejected {summary.rejected} in {elapsed:.1f}s "
        f"({summary.rows / max(elapsed, 1e-9):,.0f} rows/s)"
    )
    for reason, count in sorted(summary.reasons.items()):
        print(f"  rejected {count} × {reason}")
    if summary.rejected:
        print(f"rejected rows with reasons: {rejects}")
    return 0
