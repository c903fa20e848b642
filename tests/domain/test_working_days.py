"""The 20-working-day stop-report deadline on China's official calendar.

Shanxi 三(三): "应当自相关情形发生之日起20个工作日内主动告知待遇发放社会保险经办机构" (the day
of the event is not counted; the 20th working day after it is the last day).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.cli.calendar import read_schedule
from app.domain.calendar_sources import chinese_calendar_years, from_chinese_calendar
from app.domain.working_days import (
    Deadline,
    DeadlineBasis,
    Schedule,
    ScheduleError,
    WorkingCalendar,
    working_day_deadline,
)

TEST_2027 = Path(__file__).resolve().parents[1] / "data" / "calendar-2027-test.json"


def calendar_of(*schedules: Schedule) -> WorkingCalendar:
    return WorkingCalendar.of(schedules)


# What migration 0019 seeds: every year chinese-calendar carries, and nothing after 2026.
SEEDED = calendar_of(*(from_chinese_calendar(year) for year in chinese_calendar_years()))


def test_the_spring_festival_holiday_is_skipped_and_swapped_saturdays_count() -> None:
    # 2026-02-15..23 are holidays; Saturdays 02-14 and 02-28 are working days (调休).
    deadline = working_day_deadline(date(2026, 2, 10), 20, SEEDED)
    assert deadline == Deadline(date(2026, 3, 16), DeadlineBasis.OFFICIAL)


def test_a_plain_weekday_count_would_be_wrong_across_the_spring_festival() -> None:
    # Counting Monday-Friday only would give 2026-03-10; the official calendar gives 03-16.
    monday_to_friday = WorkingCalendar(frozenset({2026}))  # a "schedule" naming no day
    assert working_day_deadline(date(2026, 2, 10), 20, monday_to_friday).day == date(2026, 3, 10)
    assert working_day_deadline(date(2026, 2, 10), 20, SEEDED).day != date(2026, 3, 10)


def test_national_day_and_its_swapped_saturday() -> None:
    # 2026-10-01..07 off; Saturday 2026-10-10 is a working day.
    assert working_day_deadline(date(2026, 9, 25), 20, SEEDED).day == date(2026, 10, 29)
    # From the eve of the holiday: 10-08, 10-09 and the swapped 10-10 are days 1 to 3.
    assert working_day_deadline(date(2026, 9, 30), 3, SEEDED).day == date(2026, 10, 10)


def test_an_event_on_a_holiday_counts_from_the_next_working_day() -> None:
    assert working_day_deadline(date(2026, 10, 1), 1, SEEDED).day == date(2026, 10, 8)


def test_an_event_on_2026_12_04_is_not_due_on_new_years_day_2027() -> None:
    """放假办法 第二条: "元旦，放假1天（1月1日）" binds 2027 before its arrangement is published.
    Event Friday 2026-12-04: Dec 7-31 give 19 working days; 2027-01-01 (Friday) is 元旦 and the
    weekend follows, so the 20th is Monday 2027-01-04, provisional (2027 has no arrangement)."""
    deadline = working_day_deadline(date(2026, 12, 4), 20, SEEDED)
    assert deadline.day != date(2027, 1, 1)
    assert deadline == Deadline(date(2027, 1, 4), DeadlineBasis.PROVISIONAL)


def test_the_2027_spring_festival_is_off_without_an_arrangement() -> None:
    """放假办法 第二条: "春节，放假4天（农历除夕、正月初一至初三）": 2027's 除夕 is Friday 02-05,
    初一 to 初三 02-06..08. Event Friday 2027-01-29: 02-01..04 are days 1-4, 02-05 and 02-08 are
    off, 02-09 is day 5 and Tuesday 2027-03-02 the 20th (Monday-Friday alone: 02-26)."""
    for day in (date(2027, 2, 5), date(2027, 2, 8)):
        assert not SEEDED.is_working_day(day)
    assert SEEDED.is_working_day(date(2027, 2, 9))
    deadline = working_day_deadline(date(2027, 1, 29), 20, SEEDED)
    assert deadline == Deadline(date(2027, 3, 2), DeadlineBasis.PROVISIONAL)


def test_weekends_are_rest_days_without_an_arrangement_and_swaps_come_only_from_one() -> None:
    # Saturday 2027-01-30 and Sunday 01-31 rest; the test arrangement makes Sunday 01-31 work.
    assert not SEEDED.is_working_day(date(2027, 1, 31))
    schedule, _ = read_schedule(TEST_2027)
    loaded = calendar_of(from_chinese_calendar(2026), schedule)
    assert loaded.is_working_day(date(2027, 1, 31))
    assert not loaded.is_working_day(date(2027, 1, 30))


def test_with_the_2027_arrangement_its_swapped_weekend_days_count() -> None:
    """With the (test) 2027 arrangement: Sunday 01-31 and Saturday 02-20 work, 02-05..12 are off.
    Event Friday 2027-01-29: 01-31 is day 1, 02-01..04 days 2-5, 02-15..19 days 6-10, 02-20 day
    11, 02-22..26 days 12-16, and Thursday 2027-03-04 the 20th, official."""
    schedule, _ = read_schedule(TEST_2027)
    loaded = calendar_of(from_chinese_calendar(2026), schedule)
    assert working_day_deadline(date(2027, 1, 29), 20, loaded) == Deadline(
        date(2027, 3, 4),
        DeadlineBasis.OFFICIAL,
    )


def test_a_count_that_stays_inside_covered_years_is_official_even_if_later_years_are_not() -> None:
    assert working_day_deadline(date(2026, 11, 2), 20, SEEDED).basis is DeadlineBasis.OFFICIAL


def test_coverage_runs_to_the_end_of_the_last_unbroken_scheduled_year() -> None:
    assert SEEDED.covered_through(date(2026, 12, 6)) == date(2026, 12, 31)
    assert SEEDED.covered_through(date(2027, 1, 1)) is None
    # From 2026-12-06 the next 90 days run to 2027-03-05: 26 in 2026, 64 in 2027.
    assert SEEDED.uncovered_days(date(2026, 12, 6), 90) == 64
    assert SEEDED.uncovered_days(date(2026, 6, 1), 90) == 0


@pytest.mark.parametrize(
    ("holidays", "working", "complaint"),
    [
        ({date(2028, 1, 1)}, set(), "is not in 2027"),
        ({date(2027, 1, 30)}, {date(2027, 1, 30)}, "both a holiday and a working day"),
        (set(), {date(2027, 1, 29)}, "is a weekday"),
        (set(), set(), "2027-01-01 is a statutory holiday"),
    ],
)
def test_an_arrangement_no_notice_could_publish_is_refused(
    holidays: set[date], working: set[date], complaint: str
) -> None:
    """放假办法 第二条 makes the statutory days "全体公民放假的节日": an arrangement cannot make
    one a working day or leave it out; only Saturdays and Sundays become working days (调休)."""
    statutory = {
        date(2027, 1, 1),
        *(date(2027, 2, d) for d in (5, 6, 7, 8)),
        date(2027, 4, 5),
        date(2027, 5, 1),
        date(2027, 5, 2),
        date(2027, 6, 9),
        date(2027, 9, 15),
        *(date(2027, 10, d) for d in (1, 2, 3)),
    }
    if complaint.startswith("2027-01-01"):
        statutory.discard(date(2027, 1, 1))
    with pytest.raises(ScheduleError, match=complaint):
        Schedule.checked(2027, statutory | holidays, working)


def test_the_same_days_give_the_same_digest_whatever_their_order() -> None:
    one = from_chinese_calendar(2026)
    other = Schedule.checked(2026, sorted(one.holidays, reverse=True), list(one.working_days))
    assert one.digest() == other.digest()
    assert one.digest() != from_chinese_calendar(2025).digest()
