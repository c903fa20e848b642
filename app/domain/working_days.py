"""Working days on China's official calendar, for the 20-working-day stop-report deadline.

Shanxi 三(三): "应当自相关情形发生之日起20个工作日内主动告知待遇发放社会保险经办机构". The State
Council's yearly arrangement (国务院办公厅关于某年部分节假日安排的通知) moves working days onto
weekends (调休), so a plain Monday-to-Friday count is wrong around the Spring Festival and
National Day. A year's arrangement is data the agency loads (``calendar_days``); for a year
without one the count still skips weekends and the statutory holidays the law fixes
(app.domain.statutory_holidays), and the deadline says it is ``provisional``: it is counted
again when the year's arrangement arrives.

No I/O here: the service hands in a ``WorkingCalendar`` read from the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from app.domain.statutory_holidays import statutory_holidays


class DayKind(StrEnum):
    """What an official arrangement says of a day; the days it does not name are ordinary."""

    HOLIDAY = "holiday"  # 放假, on any weekday
    WORKING_DAY = "working_day"  # 上班 on a Saturday or Sunday (调休)


class DeadlineBasis(StrEnum):
    OFFICIAL = "official"  # every day counted lies in a year with an official arrangement
    PROVISIONAL = "provisional"  # some did not: weekends and statutory holidays only


@dataclass(frozen=True, slots=True)
class Deadline:
    day: date
    basis: DeadlineBasis


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """The official arrangements of ``scheduled_years`` (its named days), and the law for the
    years without one."""

    scheduled_years: frozenset[int] = frozenset()
    days: dict[date, DayKind] = field(default_factory=dict)

    @classmethod
    def of(cls, schedules: Iterable[Schedule]) -> WorkingCalendar:
        """The calendar that these official arrangements make."""
        years: set[int] = set()
        days: dict[date, DayKind] = {}
        for schedule in schedules:
            years.add(schedule.year)
            days.update(schedule.kinds())
        return cls(frozenset(years), days)

    def is_official(self, day: date) -> bool:
        return day.year in self.scheduled_years

    def is_working_day(self, day: date) -> bool:
        if self.is_official(day):
            kind = self.days.get(day)
            if kind is not None:
                return kind is DayKind.WORKING_DAY
            return day.weekday() < 5
        return day.weekday() < 5 and day not in statutory_holidays(day.year)

    def covered_through(self, start: date) -> date | None:
        """The last day of the unbroken run of scheduled years from ``start``'s year on; None
        when ``start``'s own year has no arrangement."""
        year = start.year
        while year in self.scheduled_years:
            year += 1
        return None if year == start.year else date(year - 1, 12, 31)

    def uncovered_days(self, start: date, days: int) -> int:
        """How many of the ``days`` days from ``start`` on lie in a year without an arrangement."""
        return sum(not self.is_official(start + timedelta(days=n)) for n in range(days))


class ScheduleError(ValueError):
    """An arrangement that cannot be the State Council's: it is refused whole."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """One year's official arrangement: the holidays, and the weekend days made working days."""

    year: int
    holidays: frozenset[date]
    working_days: frozenset[date]

    @classmethod
    def checked(cls, year: int, holidays: Iterable[date], working_days: Iterable[date]) -> Schedule:
        """Refuse what no notice says: days of another year, a day both off and on, a working
        "weekend" day that is a weekday, or a statutory holiday made a working day ("全体公民放假
        的节日" are days off by law) or left out of the holidays."""
        schedule = cls(year, frozenset(holidays), frozenset(working_days))
        named = schedule.holidays | schedule.working_days
        if outside := sorted(day for day in named if day.year != year):
            raise ScheduleError(f"{outside[0]} is not in {year}")
        if both := sorted(schedule.holidays & schedule.working_days):
            raise ScheduleError(f"{both[0]} is both a holiday and a working day")
        if weekdays := sorted(day for day in schedule.working_days if day.weekday() < 5):
            raise ScheduleError(f"{weekdays[0]} is a weekday: only weekend days become working")
        if missing := sorted(statutory_holidays(year) - schedule.holidays):
            raise ScheduleError(f"{missing[0]} is a statutory holiday and must be one")
        return schedule

    def kinds(self) -> dict[date, DayKind]:
        named = {day: DayKind.HOLIDAY for day in self.holidays}
        named.update((day, DayKind.WORKING_DAY) for day in self.working_days)
        return dict(sorted(named.items()))

    def digest(self) -> str:
        """The same days give the same digest, whatever the file they came from."""
        lines = [f"{day.isoformat()} {kind.value}" for day, kind in self.kinds().items()]
        return hashlib.sha256("\n".join([str(self.year), *lines]).encode()).hexdigest()


def deadline_years(event_day: date, working_days: int) -> range:
    """The years a count of ``working_days`` from ``event_day`` can reach (the calendar to load):
    a year has at least 240 working days, and a holiday run is never longer than ten days."""
    return range(event_day.year, event_day.year + 2 + working_days // 240)


def working_day_deadline(event_day: date, working_days: int, calendar: WorkingCalendar) -> Deadline:
    """The last day to report an event: the ``working_days``-th working day after it
    ("自相关情形发生之日起20个工作日内"; the day of the event itself is not counted)."""
    day = event_day
    counted = 0
    official = True
    while counted < working_days:
        day += timedelta(days=1)
        official = official and calendar.is_official(day)
        counted += calendar.is_working_day(day)
    return Deadline(day, DeadlineBasis.OFFICIAL if official else DeadlineBasis.PROVISIONAL)
