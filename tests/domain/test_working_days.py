"""The 20-working-day stop-report deadline on China's official calendar."""

from __future__ import annotations

from datetime import date

from app.domain.working_days import CalendarBasis, working_day_deadline


def test_the_spring_festival_holiday_is_skipped_and_swapped_saturdays_count() -> None:
    # 2026-02-15..23 are holidays; Saturdays 02-14 and 02-28 are working days (调休).
    deadline = working_day_deadline(date(2026, 2, 10), 20)
    assert deadline.day == date(2026, 3, 16)
    assert deadline.basis is CalendarBasis.OFFICIAL


def test_a_plain_weekday_count_would_be_wrong_across_the_spring_festival() -> None:
    # Counting Monday-Friday only would give 2026-03-10; the official calendar gives 03-16.
    assert working_day_deadline(date(2026, 2, 10), 20).day != date(2026, 3, 10)


def test_national_day_and_its_swapped_saturday() -> None:
    # 2026-10-01..07 off; Saturday 2026-10-10 is a working day.
    assert working_day_deadline(date(2026, 9, 25), 20).day == date(2026, 10, 29)
    # From the eve of the holiday: 10-08, 10-09 and the swapped 10-10 are days 1 to 3.
    assert working_day_deadline(date(2026, 9, 30), 3).day == date(2026, 10, 10)


def test_an_event_on_a_holiday_counts_from_the_next_working_day() -> None:
    assert working_day_deadline(date(2026, 10, 1), 1).day == date(2026, 10, 8)


def test_years_without_a_published_calendar_fall_back_to_weekdays_and_say_so() -> None:
    deadline = working_day_deadline(date(2026, 12, 20), 20)
    assert deadline.basis is CalendarBasis.WEEKDAYS_FALLBACK
    assert deadline.day == date(2027, 1, 15)
