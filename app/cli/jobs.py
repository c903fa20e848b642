"""The jobs beside the API: ``certsvc worker`` (long-running: payment runs, webhook deliveries
and the daily sweep), ``sweep`` and ``report`` (by hand), ``deliver`` (webhooks alone)."""

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
    from app.worker import Job


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
    from app.worker import Job

    worker = commands.add_parser(
        "worker",
        help="compute payment runs, post webhook events and sweep daily at CERTSVC_SWEEP_AT "
        "(long-running; any number on any host, with CERTSVC_RUN_COMPUTE=worker on the API "
        "replicas)",
    )
    worker.add_argument(
        "--jobs",
        type=_jobs,
        default=frozenset(Job),
        help=f"which of {','.join(Job)} this process does (default: all), e.g. --jobs runs",
    )
    worker.add_argument(
        "--once",
        action="store_true",
        help="compute the payment runs waiting now, then exit (no other job)",
    )
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between looks (default 1)")
    worker.set_defaults(handler=_worker)


def _jobs(text: str) -> frozenset[Job]:
    from app.worker import Job

    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - {job.value for job in Job}
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"a comma-separated list of {', '.join(Job)}"
            + (f"; not {', '.join(sorted(unknown))}" if unknown else "")
        )
    return frozenset(Job(name) for name in names)


def add_deliver(commands: Any) -> None:
    deliver = commands.add_parser(
        "deliver", help="post webhook events (long-running; several replicas are safe)"
    )
    deliver.set_defaults(handler=_deliver)


def _sweep(args: argparse.Namespace) -> int:
    from app.services.eligibility.policies import today
    from app.services.suspension.daily import record_swept
    from app.services.suspension.sweep import sweep

    on = args.on or today()

    async def run(runtime: Runtime) -> SweepSummary:
        summary = await sweep(runtime.sessions, runtime.policies, on, args.agency_code)
        if args.agency_code is None:  # the whole deployment's: the workers' sweep of the day
            await record_swept(runtime.sessions, on, summary, "certsvc sweep")
        return summary

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
    from app.services.payment_runs.queue import work_once
    from app.services.payment_runs.runs import RunOptions
    from app.signals import stop_on_signals
    from app.worker import run_jobs

    configure_logging(get_settings().log_level)

    async def work(runtime: Runtime) -> int:
        if args.once:
            options = RunOptions.of(runtime.settings, worker=True)
            return await work_once(runtime.sessions, runtime.runs, runtime.policies, options)
        stop, restore = stop_on_signals()
        try:
            await run_jobs(runtime, args.jobs, stop, poll_interval=args.poll)
        finally:
            restore()
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
