"""Working days on China's official calendar, for the 20-working-day stop-report deadline.

The State Council's holiday arrangement moves working days onto weekends (调休), so a plain
Monday-to-Friday count is wrong around the Spring Festival and National Day. The calendar
comes from the ``chinese-calendar`` package, which covers the years whose arrangement has been
published; for any other year the count falls back to Monday-Friday and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import chinese_calendar


class CalendarBasis(StrEnum):
    OFFICIAL = "official"  # State Council holiday arrangement, swapped weekends included
    WEEKDAYS_FALLBACK = "weekdays_fallback"  # year not yet published: Monday-Friday


@dataclass(frozen=True, slots=True)
class Deadline:
    day: date
    basis: CalendarBasis


def _is_working_day(day: date) -> tuple[bool, CalendarBasis]:
    try:
        return bool(chinese_calendar.is_workday(day)), CalendarBasis.OFFICIAL
    except NotImplementedError:
        return day.weekday() < 5, CalendarBasis.WEEKDAYS_FALLBACK


def working_day_deadline(event_day: date, working_days: int) -> Deadline:
    """The last day to report an event: the ``working_days``-th working day after it
    ("自相关情形发生之日起20个工作日内"; the day of the event itself is not counted)."""
    day = event_day
    counted = 0
    basis = CalendarBasis.OFFICIAL
    while counted < working_days:
        day += timedelta(days=1)
        working, day_basis = _is_working_day(day)
        if day_basis is CalendarBasis.WEEKDAYS_FALLBACK:
            basis = day_basis
        counted += working
    return Deadline(day, basis)
