"""The ``certsvc`` command: serve, migrate, manage API clients and the official calendar,
write the OpenAPI document."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.calendar_cli import add_calendar_commands
from app.domain.policy import PolicyError
from app.errors import AppError
from app.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from app.runtime import Runtime

T = TypeVar("T")


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
    parser = argparse.ArgumentParser(prog="certsvc", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API (migrates first on embedded SQLite)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--forwarded-allow-ips",
        help="proxies whose X-Forwarded-For gives the client's address, e.g. 10.0.0.5 or '*' "
        "(default: uvicorn's, $FORWARDED_ALLOW_IPS or 127.0.0.1)",
    )
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="bring the database to the newest migration")
    migrate.set_defaults(handler=_migrate)

    clients = commands.add_parser("clients", help="manage API clients").add_subparsers(
        required=True, metavar="ACTION"
    )
    create = clients.add_parser("create", help="create a client; prints its key on the last line")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role", required=True, choices=["mobile", "county", "data_exchange", "payment", "admin"]
    )
    create.add_argument("--regions", default="", help="comma-separated prefixes, e.g. 14,1404")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-on",
        type=date.fromisoformat,
        metavar="DATE",
        help="the key is refused from 00:00 Beijing time on DATE (default: never expires)",
    )
    expiry.add_argument("--expires-in", type=_positive, metavar="DAYS", help="days from now")
    create.set_defaults(handler=_clients_create)
    clients.add_parser("list", help="list clients").set_defaults(handler=_clients_list)
    revoke = clients.add_parser("revoke", help="revoke a client's key")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_clients_revoke)

    importer = commands.add_parser(
        "import-certifications", help="load past certifications from the provincial platform"
    )
    importer.add_argument("file", type=Path, help="CSV: " + ",".join(_import_columns()))
    importer.add_argument("--rejects", type=Path, help="default: FILE.rejected.csv")
    importer.add_argument("--client", default="legacy-import", help="system client to credit")
    importer.set_defaults(handler=_import_certifications)

    sweeper = commands.add_parser(
        "sweep", help="record status changes that happen with time (run daily, e.g. by cron)"
    )
    sweeper.add_argument("--on", type=date.fromisoformat, help="default: today in Beijing")
    sweeper.add_argument("--agency-code", help="limit to a division-code prefix")
    sweeper.set_defaults(handler=_sweep)

    report = commands.add_parser("report", help="county progress report for a city office")
    report.add_argument("--agency-code", required=True, help="division prefix, e.g. 1404")
    report.add_argument("--on", type=date.fromisoformat, help="default: today in Beijing")
    report.add_argument("--format", choices=["csv", "xlsx"], default="xlsx")
    report.add_argument("--output", type=Path, help="default: report-<code>-<date>.<format>")
    report.set_defaults(handler=_report)

    _add_worker(commands)

    deliver = commands.add_parser(
        "deliver", help="post webhook events (long-running; several replicas are safe)"
    )
    deliver.set_defaults(handler=_deliver)

    rekey = commands.add_parser(
        "rekey",
        help="rewrite stored ID digests and ciphertexts under the current keys (key rotation)",
        description="Rewrite what previous ID keys wrote (recipients' ID digests and "
        "ciphertexts, webhook secrets) with the current keys, in short batches; safe while "
        "the API serves; run it again to resume. docs/security.md gives the whole procedure.",
    )
    rekey.add_argument(
        "--check", action="store_true", help="count what still needs a previous key; write nothing"
    )
    rekey.add_argument("--batch-size", type=_positive, default=1000, help="rows per transaction")
    rekey.add_argument("--after", type=uuid.UUID, help="resume after this recipient id")
    rekey.set_defaults(handler=_rekey)

    add_calendar_commands(commands)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", default="openapi.yaml")
    openapi.set_defaults(handler=_openapi)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.domain.policy import load_policies
    from app.logs import configure_logging
    from app.protection import load_id_protector

    settings = get_settings()
    # Fail here in one line, not in a traceback from inside the server's import of the app.
    load_id_protector(settings)
    load_policies()
    configure_logging(settings.log_level)
    if settings.is_sqlite:
        # The embedded default migrates itself; on PostgreSQL migrations are a deploy step.
        _upgrade(settings)
    uvicorn.run(
        "app.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    settings = get_settings()
    _upgrade(settings)
    print("database is at the newest migration")
    return 0


def _upgrade(settings: Settings) -> None:
    from app.db.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url, settings)


def _clients_create(args: argparse.Namespace) -> int:
    from app.db.base import utcnow
    from app.domain.enums import Role
    from app.services.accounts.clients import create_client, expiry_text, key_expiry

    regions = [part.strip() for part in args.regions.split(",") if part.strip()]
    expires_at = key_expiry(args.expires_on, args.expires_in, utcnow())

    async def run(session: Any) -> str:
        client, key = await create_client(session, args.name, Role(args.role), regions, expires_at)
        regions_text = ",".join(client.regions) or "-"
        expiry = f" expires={expiry_text(expires_at)}" if expires_at else ""
        print(f"created client {client.name} ({client.role.value}) regions={regions_text}{expiry}")
        print("the key is shown once; store it now:")
        return key

    key = _with_session(run)
    print(key)
    return 0


def _clients_list(_args: argparse.Namespace) -> int:
    from app.db.base import utcnow
    from app.services.accounts.clients import expiry_text, has_expired, list_clients

    async def run(session: Any) -> None:
        now = utcnow()
        for client in await list_clients(session):
            state = "revoked" if client.revoked_at else "active"
            if client.expires_at is not None and not client.revoked_at:
                expired = has_expired(client.expires_at, now)
                state = (
                    f"{'expired' if expired else 'active until'} {expiry_text(client.expires_at)}"
                )
            regions = ",".join(client.regions) or "-"
            print(f"{client.name}\t{client.role.value}\t{regions}\t{client.key_prefix}…\t{state}")

    _with_session(run)
    return 0


def _clients_revoke(args: argparse.Namespace) -> int:
    from app.services.accounts.clients import revoke_client

    async def run(session: Any) -> None:
        client = await revoke_client(session, args.name)
        print(f"revoked {client.name}")

    _with_session(run)
    return 0


def _import_columns() -> tuple[str, ...]:
    from app.services.certifications.imports import COLUMNS

    return COLUMNS


def _import_certifications(args: argparse.Namespace) -> int:
    import time

    from app.services.certifications.imports import ImportSummary, import_certifications

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


def _sweep(args: argparse.Namespace) -> int:
    from app.services.eligibility.policies import today
    from app.services.suspension.sweep import SweepSummary, sweep

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
    from app.services.reporting.county_report import Report, build_report, write_csv, write_xlsx

    on = args.on or today()
    output = args.output or Path(f"report-{args.agency_code}-{on}.{args.format}")

    async def run(runtime: Runtime) -> Report:
        async with runtime.sessions() as session, session.begin():
            return await build_report(session, runtime.policies, args.agency_code, on)

    report = run_with(run)
    (write_xlsx if args.format == "xlsx" else write_csv)(report, output)
    print(f"wrote {output}: {len(report.rows)} counties")
    return 0


def _deliver(_args: argparse.Namespace) -> int:
    from app.logs import configure_logging
    from app.services.notices.delivery import run_worker

    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.is_sqlite:
        _upgrade(settings)
    asyncio.run(run_worker(settings))
    return 0


def _add_worker(commands: Any) -> None:
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _rekey(args: argparse.Namespace) -> int:
    import time

    from app.services.recipients.rekey import RekeySummary, rekey

    verb = "to rewrite" if args.check else "rewritten"
    started = time.monotonic()

    def progress(summary: RekeySummary) -> None:
        print(
            f"\r{summary.recipients:>10,} recipients  {summary.recipients_rewritten:>10,} {verb}"
            f"  (resume with --after {summary.last_id})",
            end="",
            file=sys.stderr,
            flush=True,
        )

    async def run(runtime: Runtime) -> RekeySummary:
        return await rekey(
            runtime.sessions,
            runtime.protector,
            batch_size=args.batch_size,
            after=args.after,
            check_only=args.check,
            progress=progress,
        )

    summary = run_with(run)
    print(file=sys.stderr)
    print(
        f"recipients {summary.recipients}: {verb} {summary.recipients_rewritten}, unreadable "
        f"{len(summary.unreadable)}, registered twice {len(summary.duplicates)}; names and "
        f"phones: {verb} {summary.personal_rewritten}, unreadable "
        f"{len(summary.personal_unreadable)}; webhooks "
        f"{summary.webhooks}: {verb} {summary.webhooks_rewritten}, unreadable "
        f"{len(summary.webhooks_unreadable)}; {time.monotonic() - started:.1f}s"
    )
    for recipient_id in summary.unreadable:
        print(f"  recipient {recipient_id}: its ID ciphertext opens with no configured key")
    for recipient_id in summary.duplicates:
        print(f"  recipient {recipient_id}: another recipient has the same ID number")
    for field, row_id in summary.personal_unreadable:
        print(f"  {field} of {row_id}: opens with no configured key")
    for webhook_id in summary.webhooks_unreadable:
        print(f"  webhook {webhook_id}: its secret opens with no configured key")
    pending = summary.rewritten if args.check else 0
    if summary.previous_keys_needed or pending:
        print("previous keys are still needed")
        return 1
    if args.check and args.after is None:
        print("nothing stored needs a previous key (see docs/security.md before removing them)")
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from app.openapi import render_openapi

    Path(args.output).write_text(render_openapi())
    print(f"wrote {args.output}")
    return 0


def run_with(work: Callable[[Runtime], Coroutine[Any, Any, T]]) -> T:
    """Run a command's work on the composition root (`app/runtime.py`), the embedded SQLite
    database migrated first; an AppError ends the command with one line and exit status 1."""
    from app.runtime import Runtime

    settings = get_settings()
    if settings.is_sqlite:
        _upgrade(settings)

    async def run() -> T:
        async with Runtime.open(settings) as runtime:
            return await work(runtime)

    try:
        return asyncio.run(run())
    except AppError as exc:
        print(f"certsvc: {exc.detail or exc.title}", file=sys.stderr)
        raise SystemExit(1) from None


def _with_session(work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run one unit of work in one committed transaction (its single commit point)."""

    async def in_transaction(runtime: Runtime) -> T:
        async with runtime.sessions() as session, session.begin():
            return await work(session)

    return run_with(in_transaction)


if __name__ == "__main__":
    sys.exit(main())
