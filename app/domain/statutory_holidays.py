"""The public holidays the law fixes, known for every year before the State Council publishes
that year's arrangement (放假安排).

《全国年节及纪念日放假办法》 as revised by 国务院令第795号, in force from 2025-01-01, 第二条:
"全体公民放假的节日：（一）元旦，放假1天（1月1日）；（二）春节，放假4天（农历除夕、正月初一至初三）；
（三）清明节，放假1天（农历清明当日）；（四）劳动节，放假2天（5月1日、2日）；（五）端午节，放假1天
（农历端午当日）；（六）中秋节，放假1天（农历中秋当日）；（七）国庆节，放假3天（10月1日至3日）。"

These days are never working days, whatever the weekday. What the law does not fix is how the
State Council moves weekends around them (调休) and where a holiday falling on a weekend is made
up (补假): that comes only from the official arrangement of the year. Earlier versions of the
办法 apply to earlier years (2008: 春节 除夕、初一、初二, 劳动节 1 day, 清明/端午/中秋 added;
2014: 春节 初一至初三; before 2008: 春节 初一至初三, 劳动节 3 days, no lunar festivals but 春节).

Lunar dates come from ``lunardate`` (pure Python, 1900-2099); the Qingming solar term from
``chinese_calendar.get_solar_terms`` (the 寿星 formula with its published corrections).
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
from lunardate import LunarDate

FIRST_YEAR = 1999  # the 1999 办法; earlier years are counted by it too
LAST_YEAR = 2099  # lunardate's last year; later years keep only their solar-calendar days


def qingming(year: int) -> date:
    """The day of the Qingming solar term (清明) in ``year``: 4, 5 or 6 April."""
    for day, term in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30)):
        if term == "清明":
            return day  # type: ignore[no-any-return]
    raise AssertionError(f"no Qingming found in April {year}")  # pragma: no cover


def _lunar(year: int, month: int, day: int) -> date:
    return LunarDate(year, month, day).to_solar_date()  # type: ignore[no-any-return]


def statutory_holidays(year: int) -> frozenset[date]:
    """Every day of ``year`` the 放假办法 in force that year makes a public holiday for all.
    Years before 1999 (no benefit the service pays began then, and every count it makes from
    2004 on has an arrangement) follow the 1999 version; after 2099 the lunar festivals are
    beyond the converter and only 元旦, 劳动节 and 国庆节 are kept."""
    if year > LAST_YEAR:
        return frozenset({date(year, 1, 1), date(year, 5, 1), date(year, 5, 2)}) | {
            date(year, 10, n) for n in (1, 2, 3)
        }
    new_year = _lunar(year, 1, 1)  # 正月初一
    eve = new_year - timedelta(days=1)  # 除夕, the last day of the twelfth lunar month
    if year >= 2025:
        spring = [eve, *(new_year + timedelta(days=n) for n in range(3))]
        labour = [date(year, 5, 1), date(year, 5, 2)]
    elif year >= 2014:
        spring = [new_year + timedelta(days=n) for n in range(3)]
        labour = [date(year, 5, 1)]
    elif year >= 2008:
        spring = [eve, new_year, new_year + timedelta(days=1)]
        labour = [date(year, 5, 1)]
    else:
        spring = [new_year + timedelta(days=n) for n in range(3)]
        labour = [date(year, 5, n) for n in (1, 2, 3)]
    days = {date(year, 1, 1), *spring, *labour, *(date(year, 10, n) for n in (1, 2, 3))}
    if year >= 2008:
        days |= {qingming(year), _lunar(year, 5, 5), _lunar(year, 8, 15)}
    return frozenset(days)
