"""Statutory holidays (《全国年节及纪念日放假办法》), known before a year's arrangement.

第二条 (国务院令第795号, from 2025-01-01): "全体公民放假的节日：（一）元旦，放假1天（1月1日）；
（二）春节，放假4天（农历除夕、正月初一至初三）；（三）清明节，放假1天（农历清明当日）；（四）劳动节，
放假2天（5月1日、2日）；（五）端午节，放假1天（农历端午当日）；（六）中秋节，放假1天（农历中秋当日）；
（七）国庆节，放假3天（10月1日至3日）。"
"""

from __future__ import annotations

from datetime import date

import chinese_calendar
import pytest

from app.domain.statutory_holidays import qingming, statutory_holidays

PUBLISHED_YEARS = range(2004, 2027)  # the years chinese-calendar 1.11.0 carries


def test_2027_statutory_holidays_by_the_2025_revision() -> None:
    # 2027: 除夕 02-05 (Friday), 正月初一 02-06; 清明 04-05; 端午 06-09; 中秋 09-15.
    assert sorted(statutory_holidays(2027)) == [
        date(2027, 1, 1),
        date(2027, 2, 5),
        date(2027, 2, 6),
        date(2027, 2, 7),
        date(2027, 2, 8),
        date(2027, 4, 5),
        date(2027, 5, 1),
        date(2027, 5, 2),
        date(2027, 6, 9),
        date(2027, 9, 15),
        date(2027, 10, 1),
        date(2027, 10, 2),
        date(2027, 10, 3),
    ]


@pytest.mark.parametrize("year", PUBLISHED_YEARS)
def test_every_statutory_holiday_is_a_day_off_in_the_published_arrangements(year: int) -> None:
    """Checks the lunar conversion and the solar term against 23 published years: no computed
    statutory holiday is a working day in chinese-calendar's data of the State Council notices
    (the 2008 and 2014 versions of the 办法 apply to their years)."""
    for day in statutory_holidays(year):
        assert chinese_calendar.is_holiday(day), day


@pytest.mark.parametrize("year", range(2008, 2027))
def test_qingming_is_the_day_the_published_arrangement_names_for_it(year: int) -> None:
    """清明节 "农历清明当日" is the solar term's day: 4, 5 or 6 April."""
    on_leave, holiday = chinese_calendar.get_holiday_detail(qingming(year))
    assert on_leave
    assert holiday is None or holiday == chinese_calendar.Holiday.tomb_sweeping_day.value


def test_the_2025_revision_adds_new_years_eve_and_a_second_labour_day() -> None:
    # 2024 (2014 version): 春节 初一至初三 only, 劳动节 05-01 only.
    assert date(2024, 2, 9) not in statutory_holidays(2024)  # 除夕 2024
    assert date(2024, 5, 2) not in statutory_holidays(2024)
    assert {date(2025, 1, 28), date(2025, 5, 2)} <= statutory_holidays(2025)  # 除夕 2025


def test_every_year_a_date_can_name_has_an_answer() -> None:
    """Dates run 1900-01-01 to 2099-12-31 (and a count may step into 2100): no year fails."""
    assert date(1950, 10, 1) in statutory_holidays(1950)
    assert date(2100, 1, 1) in statutory_holidays(2100)
    assert date(2099, 1, 1) in statutory_holidays(2099)
