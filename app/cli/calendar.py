"""``certsvc calendar``: load a year's official holiday arrangement, show what is loaded, and
count provisional stop-report deadlines again.

The file ``calendar load`` reads is JSON, one year as the State Council notice publishes it
(国务院办公厅关于YYYY年部分节假日安排的通知)::

    {
      "year": 2027,
      "source": "国办发明电〔2026〕N号",
      "holidays": ["2027-01-01", "2027-02-05..2027-02-12", "2027-04-05"],
      "working_days": ["2027-02-14", "2027-02-20"]
    }

``holidays`` are the days off (a ``first..last`` range stands for every day of it);
``working_days`` the Saturdays and Sundays made working days (调休). The statutory holidays of
the 放假办法 must be among the holidays. The file is refused whole, with one line, when it is
malformed; nothing is written then.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.runner import run_with
from app.domain.working_days import Schedule, ScheduleError

if TYPE_CHECKING:
    from app.runtime import Runtime


def add_commands(commands: Any) -> None:
    """Add ``calendar load|status|recompute`` to the ``certsvc`` parser's subcommands."""
    calendar = commands.add_parser(
        "calendar", help="the official holiday calendar working-day deadlines count on"
    ).add_subparsers(required=True, metavar="ACTION")
    load = calendar.add_parser(
        "load", help="load a year's arrangement (JSON) as its new version; recount deadlines"
    )
    load.add_argument("file", type=Path, help="JSON: year, source, holidays, working_days")
    load.add_argument("--loaded-by", help="who loads it (default: the operating-system user)")
    load.set_defaults(handler=_load)
    status = calendar.add_parser("status", help="loaded years, and whether the next 90 days are")
    status.set_defaults(handler=_status)
    recompute = calendar.add_parser(
        "recompute", help="count provisional stop-report deadlines again, with their late flags"
    )
    recompute.set_defaults(handler=_recompute)


class CalendarFileError(ValueError):
    pass


def read_schedule(path: Path) -> tuple[Schedule, str]:
    """The arrangement in ``path`` and its source, or CalendarFileError naming what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalendarFileError(f"{path}: {exc}") from None
    if not isinstance(document, dict):
        raise CalendarFileError(f"{path}: expected a JSON object")
    unknown = set(document) - {"year", "source", "holidays", "working_days"}
    if unknown:
        raise CalendarFileError(f"{path}: unknown field {sorted(unknown)[0]!r}")
    year, source = document.get("year"), document.get("source")
    if not isinstance(year, int) or isinstance(year, bool) or not 1999 <= year <= 2099:
        raise CalendarFileError(f"{path}: year must be a number from 1999 to 2099")
    if not isinstance(source, str) or not 0 < len(source.strip()) <= 200:
        raise CalendarFileError(f"{path}: source must name the notice (1 to 200 characters)")
    try:
        schedule = Schedule.checked(
            year,
            _days(document.get("holidays"), "holidays"),
            _days(document.get("working_days", []), "working_days"),
        )
    except (ScheduleError, ValueError) as exc:
        raise CalendarFileError(f"{path}: {exc}") from None
    return schedule, source.strip()


def _days(entries: object, name: str) -> Iterable[date]:
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        raise ValueError(f"{name} must be a list of dates (YYYY-MM-DD or first..last)")
    days: list[date] = []
    for entry in entries:
        first, _, last = entry.partition("..")
        start, end = date.fromisoformat(first), date.fromisoformat(last or first)
        if end < start or (end - start).days > 31:
            raise ValueError(f"{entry!r} is not a range of at most a month")
        days.extend(start + timedelta(days=n) for n in range((end - start).days + 1))
    return days


def _load(args: argparse.Namespace) -> int:
    from app.services.suspension.calendar import load_schedule
    from app.services.suspension.deadlines import recount_deadlines

    try:
        schedule, source = read_schedule(args.file)
    except CalendarFileError as exc:
        print(f"certsvc: {exc}", file=sys.stderr)
        return 2
    loaded_by = args.loaded_by or getpass.getuser()

    async def run(runtime: Runtime) -> str:
        async with runtime.sessions() as session, session.begin():
            result = await load_schedule(
                session, schedule, source=source, loaded_by=loaded_by, now=datetime.now(UTC)
            )
            if not result.changed:
                return f"{result.year}: unchanged, already version {result.version}"
            recounted = await recount_deadlines(session, runtime.policies, year=result.year)
            return (
                f"{result.year}: version {result.version} loaded "
                f"({len(schedule.holidays)} holidays, {len(schedule.working_days)} working "
                f"weekend days); {recounted} stop-report deadlines counted again"
            )

    print(run_with(run))
    return 0


def _status(_args: argparse.Namespace) -> int:
    from app.services.eligibility.policies import today
    from app.services.suspension.calendar import LOOKAHEAD_DAYS, coverage, year_statuses
    from app.services.suspension.deadlines import provisional_count

    async def run(runtime: Runtime) -> list[str]:
        async with runtime.sessions() as session, session.begin():
            years = await year_statuses(session)
            covered = await coverage(session, today())
            provisional = await provisional_count(session)
        lines = [
            f"{y.year}  version {y.version}  {y.days} days  {y.source}  "
            f"loaded by {y.loaded_by} at {y.loaded_at:%Y-%m-%dT%H:%M:%SZ}"
            for y in years
        ]
        through = covered.covered_through.isoformat() if covered.covered_through else "—"
        lines.append(
            f"covered through {through}; {covered.uncovered_days} of the next "
            f"{LOOKAHEAD_DAYS} days have no official arrangement"
        )
        lines.append(f"{provisional} stop-report deadlines are provisional")
        return lines

    print("\n".join(run_with(run)))
    return 0


def _recompute(_args: argparse.Namespace) -> int:
    from app.services.suspension.deadlines import recount_deadlines

    async def run(runtime: Runtime) -> int:
        async with runtime.sessions() as session, session.begin():
            return await recount_deadlines(session, runtime.policies)

    print(f"{run_with(run)} provisional stop-report deadlines changed")
    return 0
