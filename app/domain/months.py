"""Calendar months, the unit in which cycles, payments and back pay are counted.

Certification cycles "count from the month of certification, month by month" (从认证当月算起，按月
计算), and benefits are paid per month, so most rules speak of months rather than days. `Month`
keeps that arithmetic exact across year ends and short months.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import overload
from zoneinfo import ZoneInfo

_MONTH_PATTERN = re.compile(r"(\d{4})-(\d{2})", re.ASCII)


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month such as 2026-03; ordered, hashable, printed as ``YYYY-MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999:
            raise ValueError(f"year out of range: {self.year}")
        if not 1 <= self.month <= 12:
            raise ValueError(f"month out of range: {self.month}")

    @classmethod
    def of(cls, day: date) -> Month:
        """The month containing ``day``."""
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse exactly ``YYYY-MM`` (e.g. ``2026-03``); anything else is a ValueError."""
        match = _MONTH_PATTERN.fullmatch(text)
        if match is None:
            raise ValueError(f"not a month in the form YYYY-MM: {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def from_index(cls, index: int) -> Month:
        """Inverse of `index`."""
        year, month0 = divmod(index, 12)
        return cls(year, month0 + 1)

    @property
    def index(self) -> int:
        """Months since the start of year 0; differences of indexes count months."""
        return self.year * 12 + self.month - 1

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def __add__(self, months: int) -> Month:
        if not isinstance(months, int):
            return NotImplemented
        return Month.from_index(self.index + months)

    @overload
    def __sub__(self, other: int) -> Month: ...

    @overload
    def __sub__(self, other: Month) -> int: ...

    def __sub__(self, other: int | Month) -> Month | int:
        """``month - n`` steps back n months; ``month - earlier`` counts the months between."""
        if isinstance(other, Month):
            return self.index - other.index
        if isinstance(other, int):
            return Month.from_index(self.index - other)
        return NotImplemented


def month_of_instant(instant: datetime, tz: ZoneInfo) -> Month:
    """The month an instant falls in, as seen on the wall calendar of ``tz``.

    2026-03-31T23:30+08:00 is March in Asia/Shanghai although it is still 15:30 on March 31 in
    UTC; 2026-03-31T17:00Z is already April 1 in Shanghai. Naive datetimes are refused because
    their month is ambiguous.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("a naive datetime has no month; give it a time zone")
    return Month.of(instant.astimezone(tz).date())


def months_between(start: Month, end: Month) -> int:
    """How many months ``end`` is after ``start`` (negative when it is before)."""
    return end - start


def month_range(start: Month, stop: Month) -> Iterator[Month]:
    """The months from ``start`` up to, not including, ``stop`` (empty when stop <= start)."""
    for index in range(start.index, stop.index):
        yield Month.from_index(index)
