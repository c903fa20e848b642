"""The default source of official arrangements: the ``chinese-calendar`` package, for the
years whose State Council notice it carries (2004 to the newest it knows)."""

from __future__ import annotations

import chinese_calendar

from app.domain.statutory_holidays import statutory_holidays
from app.domain.working_days import Schedule

CHINESE_CALENDAR_SOURCE = f"chinese-calendar {chinese_calendar.__version__}"


def chinese_calendar_years() -> list[int]:
    """The years the installed package has an arrangement for."""
    return sorted({day.year for day in chinese_calendar.holidays})


def from_chinese_calendar(year: int) -> Schedule:
    """The package's arrangement of ``year``. The package leaves out some statutory holidays
    that fall on a weekend (2012-06-23, 端午): they are added, being days off either way."""
    holidays = {day for day in chinese_calendar.holidays if day.year == year}
    if not holidays:
        raise ValueError(f"chinese-calendar {chinese_calendar.__version__} has no {year}")
    working = {day for day in chinese_calendar.workdays if day.year == year}
    return Schedule.checked(year, holidays | statutory_holidays(year), working)
