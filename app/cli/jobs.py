"""The jobs beside the API: ``certsvc sweep`` and ``report`` (run by cron or an operator),
``worker`` (payment runs) and ``deliver`` (webhooks), long-running."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.runner import run_with
from app.settings import get_settings

if TYPE_CHECKING:
    from app.runtime import Runtime
    from app.services.reporting.county_report import Report
    from app.services.suspension.sweep import SweepSummary


def add_sweep(commands: Any) -> None:
    sweeper = commands.add_parser(
        "sweep", help="record status changes that happen with time (run daily, e.g. by cron)"
    )
    sweeper.add_argument("--on", type=date.fromisoformat, help="default: today in Beijing")
    sweeper.add_argument("--agency-code", help="limit to a division-code prefix")
    sweeper.set_defaults(handler=_sweep)


def add_report(commands: Any) -> None:
    report = commands.add_parser("report", help="county progress report for a city office")
    report.add_argument("--agency-code", required=True, help="division prefix, e.g. 1404")
    report.add_argument("--on", type=date.fromisoformat, help="default: today in Beijing")
    report.add_argument("--format", choices=["csv", "xlsx"], default="xlsx")
    report.add_argument("--output", type=Path, help="default: report-<code>-<date>.<format>")
    report.set_defaults(handler=_report)


def add_worker(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="compute payment runs (long-running; any number on any host, with "
        "CERTSVC_RUN_COMPUTE=worker on the API replicas)",
    )
    worker.add_argument(
        "--once", action="store_true", help="compute the runs waiting now, then exit"
    )
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between looks (default 1)")
    worker.set_defaults(handler=_worker)


def add_deliver(commands: Any) -> None:
    deliver = commands.add_parser(
        "deliver", help="post webhook events (long-running; several replicas are safe)"
    )
    deliver.set_defaults(handler=_deliver)


def _sweep(args: argparse.Namespace) -> int:
    from app.services.eligibility.policies import today
    from app.services.suspension.sweep import sweep

    on = args.on or today()

    async def run(runtime: Runtime) -> SweepSummary:
        return await sweep(runtime.sessions, runtime.policies, on, args.agency_code)

    summary = run_with(run)
    events = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.events.items()))
    print(
        f"swept {summary.benefits} benefits on {on}: events {events or 'none'}; "
        f"{summary.cases_opened} verification cases opened"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from app.services.eligibility.policies import today
    from app.services.reporting.county_report import build_report, write_csv, write_xlsx

    on = args.on or today()
    output = args.output or Path(f"report-{args.agency_code}-{on}.{args.format}")

    async def run(runtime: Runtime) -> Report:
        async with runtime.sessions() as session, session.begin():
            return await build_report(session, runtime.policies, args.agency_code, on)

    report = run_with(run)
    (write_xlsx if args.format == "xlsx" else write_csv)(report, output)
    print(f"wrote {output}: {len(report.rows)} counties")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from app.logs import configure_logging
    from app.services.payment_runs.queue import run_worker, work_once
    from app.services.payment_runs.runs import RunOptions

    configure_logging(get_settings().log_level)

    async def work(runtime: Runtime) -> int:
        options = RunOptions.of(runtime.settings, worker=True)
        if args.once:
            return await work_once(runtime.sessions, runtime.runs, runtime.policies, options)
        await run_worker(
            runtime.sessions, runtime.runs, runtime.policies, options, poll_interval=args.poll
        )
        return 0

    computed = run_with(work)
    if args.once:
        print(f"computed {computed} payment runs")
    return 0


def _deliver(_args: argparse.Namespace) -> int:
    from app.logs import configure_logging
    from app.services.notices.delivery import run_worker

    configure_logging(get_settings().log_level)

    async def work(runtime: Runtime) -> None:
        await run_worker(runtime.sessions, runtime.protector, runtime.settings)

    run_with(work)
    return 0
