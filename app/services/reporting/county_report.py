"""The county progress report a city office opens: `certsvc report`.

One row per county under the prefix with the statistics of `GET /v1/stats`, a totals row, and
for xlsx two native spreadsheet charts: the channel mix and the suspensions announced per
month over the last year (from the outbox's `suspended` events, i.e. what the sweep saw).
"""

from __future__ import annotations

import csv
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.reporting import county
from app.domain.enums import Channel, Role
from app.domain.months import Month
from app.domain.policy import PolicyBook
from app.schemas.reporting import Stats
from app.services.reporting.stats import stats

COLUMNS = (
    "agency_code",
    "in_scope",
    "valid",
    "due_within_lead_time",
    "suspended",
    "stopped",
    "awaiting_first_certification",
    "not_required",
    "never_certified",
)
_REPORTER = Principal(uuid.UUID(int=0), "certsvc report", Role.ADMIN, ())


@dataclass
class Report:
    on: date
    rows: list[Stats]
    channels: Counter[Channel]
    suspensions_by_month: list[tuple[str, int]]

    def totals(self) -> dict[str, int]:
        return {name: sum(getattr(row, name) for row in self.rows) for name in COLUMNS[1:]}


async def build_report(
    session: AsyncSession, policies: PolicyBook, prefix: str, on: date
) -> Report:
    counties = await county.agency_codes(session, prefix)
    rows = [await stats(session, _REPORTER, policies, county, on) for county in counties]
    channels: Counter[Channel] = Counter()
    for row in rows:
        channels.update(row.by_channel)
    return Report(on, rows, channels, await _suspensions_by_month(session, prefix, on))


async def _suspensions_by_month(
    session: AsyncSession, prefix: str, on: date
) -> list[tuple[str, int]]:
    first = Month.of(on) - 11
    per_month: Counter[str] = Counter()
    for day, count in (await county.suspensions_by_day(session, prefix)).items():
        per_month[day[:7]] += count
    return [(str(first + i), per_month[str(first + i)]) for i in range(12)]


def write_csv(report: Report, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as handle:  # BOM: Excel reads UTF-8
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in report.rows:
            writer.writerow([getattr(row, name) for name in COLUMNS])
        writer.writerow(["total", *report.totals().values()])


def write_xlsx(report: Report, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"progress {report.on}"
    sheet.append(list(COLUMNS))
    for row in report.rows:
        sheet.append([getattr(row, name) for name in COLUMNS])
    sheet.append(["total", *report.totals().values()])

    mix = book.create_sheet("channel mix")
    mix.append(["channel", "certifications"])
    for channel in Channel:
        mix.append([channel.value, report.channels.get(channel, 0)])
    bars = BarChart()
    bars.title = "Certifications by channel (last 12 months)"
    bars.add_data(
        Reference(mix, min_col=2, min_row=1, max_row=len(Channel) + 1), titles_from_data=True
    )
    bars.set_categories(Reference(mix, min_col=1, min_row=2, max_row=len(Channel) + 1))
    mix.add_chart(bars, "D2")

    trend = book.create_sheet("suspensions")
    trend.append(["month", "suspended"])
    for month, count in report.suspensions_by_month:
        trend.append([month, count])
    line = LineChart()
    line.title = "Suspensions announced per month"
    rows = len(report.suspensions_by_month) + 1
    line.add_data(Reference(trend, min_col=2, min_row=1, max_row=rows), titles_from_data=True)
    line.set_categories(Reference(trend, min_col=1, min_row=2, max_row=rows))
    trend.add_chart(line, "D2")
    book.save(path)
