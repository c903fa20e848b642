from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.months import Month, month_of_instant, month_range, months_between

SHANGHAI = ZoneInfo("Asia/Shanghai")

months = st.builds(Month, st.integers(1900, 2200), st.integers(1, 12))


def test_str_is_zero_padded_year_dash_month() -> None:
    assert str(Month(2026, 3)) == "2026-03"


def test_parse_reads_what_str_writes() -> None:
    assert Month.parse("2026-03") == Month(2026, 3)


@pytest.mark.parametrize(
    "text", ["2026-3", "2026-13", "2026-00", "26-03", "2026-03-01", " 2026-03"]
)
def test_parse_rejects_anything_but_yyyy_mm(text: str) -> None:
    with pytest.raises(ValueError):
        Month.parse(text)


def test_month_outside_1_to_12_is_refused() -> None:
    with pytest.raises(ValueError):
        Month(2026, 13)


def test_of_takes_the_month_of_a_date() -> None:
    assert Month.of(date(2026, 12, 31)) == Month(2026, 12)


def test_adding_months_crosses_the_year_end() -> None:
    assert Month(2026, 11) + 3 == Month(2027, 2)
    assert Month(2026, 12) + 1 == Month(2027, 1)
    assert Month(2026, 1) + 24 == Month(2028, 1)


def test_subtracting_months_crosses_the_year_start() -> None:
    assert Month(2026, 1) - 1 == Month(2025, 12)
    assert Month(2026, 1) - 13 == Month(2024, 12)


def test_subtracting_a_month_counts_the_months_between() -> None:
    assert Month(2027, 2) - Month(2026, 11) == 3
    assert months_between(Month(2026, 11), Month(2027, 2)) == 3
    assert months_between(Month(2027, 2), Month(2026, 11)) == -3


def test_months_order_by_year_then_month() -> None:
    assert Month(2025, 12) < Month(2026, 1) < Month(2026, 2)
    assert sorted([Month(2026, 1), Month(2025, 12), Month(2025, 2)]) == [
        Month(2025, 2),
        Month(2025, 12),
        Month(2026, 1),
    ]


def test_last_day_of_february_follows_leap_years() -> None:
    assert Month(2026, 2).last_day == date(2026, 2, 28)
    assert Month(2028, 2).last_day == date(2028, 2, 29)
    assert Month(2100, 2).last_day == date(2100, 2, 28)  # divisible by 100, not by 400
    assert Month(2000, 2).last_day == date(2000, 2, 29)


def test_first_and_last_day_of_december() -> None:
    assert Month(2026, 12).first_day == date(2026, 12, 1)
    assert Month(2026, 12).last_day == date(2026, 12, 31)


def test_late_evening_in_beijing_is_still_that_month() -> None:
    # 15:30 UTC on March 31: March in Shanghai.
    instant = datetime(2026, 3, 31, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    assert month_of_instant(instant, SHANGHAI) == Month(2026, 3)


def test_afternoon_utc_on_the_last_day_is_already_next_month_in_beijing() -> None:
    instant = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
    assert month_of_instant(instant, SHANGHAI) == Month(2026, 4)


def test_new_year_in_beijing_comes_before_new_year_in_utc() -> None:
    instant = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert month_of_instant(instant, SHANGHAI) == Month(2027, 1)


def test_month_of_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        month_of_instant(datetime(2026, 3, 31, 23, 30), SHANGHAI)


def test_month_range_is_half_open_and_crosses_years() -> None:
    assert list(month_range(Month(2026, 11), Month(2027, 2))) == [
        Month(2026, 11),
        Month(2026, 12),
        Month(2027, 1),
    ]


def test_month_range_is_empty_when_stop_is_not_after_start() -> None:
    assert list(month_range(Month(2026, 5), Month(2026, 5))) == []
    assert list(month_range(Month(2026, 5), Month(2026, 4))) == []


@given(months, st.integers(-600, 600))
def test_adding_then_subtracting_returns_the_month(month: Month, n: int) -> None:
    assert (month + n) - n == month
    assert (month + n) - month == n


@given(months)
def test_the_day_after_the_last_day_is_the_next_months_first_day(month: Month) -> None:
    assert month.last_day + timedelta(days=1) == (month + 1).first_day
    assert Month.of(month.first_day) == Month.of(month.last_day) == month


@given(months)
def test_str_and_parse_round_trip(month: Month) -> None:
    assert Month.parse(str(month)) == month
