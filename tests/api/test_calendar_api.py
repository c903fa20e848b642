"""The official calendar beyond its data (issue 16 item 8), over HTTP and on both databases.

Shanxi 三(三): "应当自相关情形发生之日起20个工作日内主动告知待遇发放社会保险经办机构".
《全国年节及纪念日放假办法》第二条: "（一）元旦，放假1天（1月1日）；（二）春节，放假4天（农历除夕、
正月初一至初三）…": these days are off before the State Council publishes the year's arrangement.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli.calendar import read_schedule
from app.db.models import CalendarDay, CalendarSchedule
from app.domain.calendar_sources import from_chinese_calendar
from app.domain.enums import Role
from app.domain.policy import load_policies
from app.domain.working_days import Schedule
from app.services.suspension.calendar import coverage, load_schedule
from app.services.suspension.deadlines import recount_deadlines
from tests.conftest import Api
from tests.factories import recipient

TEST_2027 = Path(__file__).resolve().parents[1] / "data" / "calendar-2027-test.json"
LOADED_AT = datetime(2027, 3, 3, 2, tzinfo=UTC)


async def _report(county: httpx.AsyncClient, occurred_on: str, ref: str) -> dict[str, Any]:
    person = (await county.post("/v1/recipients", json=recipient())).json()
    body = {
        "recipient_id": person["recipient_id"],
        "reason": "imprisonment",
        "occurred_on": occurred_on,
        "reported_by": "family",
        "source_ref": ref,
    }
    response = await county.post("/v1/stop-reports", json=body)
    assert response.status_code == 201, response.text
    report: dict[str, Any] = response.json()
    report["_body"] = body
    return report


async def _again(county: httpx.AsyncClient, report: dict[str, Any]) -> dict[str, Any]:
    """The stored report, as a replay of its request answers it."""
    response = await county.post("/v1/stop-reports", json=report["_body"])
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = response.json()
    return stored


async def test_an_event_on_2026_12_04_is_not_due_on_new_years_day(api: Api) -> None:
    """Event 2026-12-04: the 20th working day is not 2027-01-01 (元旦, off by law) but Monday
    2027-01-04, and the answer says the count ran over a year without an arrangement."""
    api.set_now("2026-12-06T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    report = await _report(county, "2026-12-04", "new-year")
    assert (report["deadline"], report["late"], report["calendar"]) == (
        "2027-01-04",
        False,
        "provisional",
    )


async def test_the_2027_spring_festival_is_not_counted_without_an_arrangement(api: Api) -> None:
    """2027: 除夕 Friday 02-05 and 初一至初三 02-06..08. Event Friday 2027-01-29: 20 working days
    end on 2027-03-02, not 02-26 (Monday to Friday)."""
    api.set_now("2027-02-01T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    report = await _report(county, "2027-01-29", "spring-festival")
    assert (report["deadline"], report["calendar"]) == ("2027-03-02", "provisional")


async def test_loading_the_arrangement_recounts_a_provisional_deadline_and_its_late_flag(
    api: Api, session: AsyncSession
) -> None:
    """Reported 2027-03-03 for an event on 2027-01-29: provisionally due 03-02, so late. The
    (test) 2027 arrangement makes Sunday 01-31 and Saturday 02-20 working days and 02-05..12
    holidays: due 03-04, official, not late."""
    api.set_now("2027-03-03T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    report = await _report(county, "2027-01-29", "late-until-loaded")
    assert (report["deadline"], report["late"], report["calendar"]) == (
        "2027-03-02",
        True,
        "provisional",
    )
    schedule, source = read_schedule(TEST_2027)
    result = await load_schedule(session, schedule, source=source, loaded_by="test", now=LOADED_AT)
    assert (result.year, result.version, result.changed) == (2027, 1, True)
    assert await recount_deadlines(session, load_policies(), year=2027) == 1
    stored = await _again(county, report)
    assert (stored["deadline"], stored["late"], stored["calendar"]) == (
        "2027-03-04",
        False,
        "official",
    )
    # A new report is counted on the loaded arrangement straight away.
    fresh = await _report(county, "2027-01-29", "after-load")
    assert (fresh["deadline"], fresh["calendar"]) == ("2027-03-04", "official")


async def test_loading_a_year_is_idempotent_and_a_correction_is_a_new_version(
    api: Api, session: AsyncSession
) -> None:
    """The same days again change nothing; corrected days replace the year's days as version 2
    in one go, and deadlines counted over that year are counted again."""
    api.set_now("2027-03-03T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    schedule, source = read_schedule(TEST_2027)
    await load_schedule(session, schedule, source=source, loaded_by="a", now=LOADED_AT)
    again = await load_schedule(session, schedule, source=source, loaded_by="b", now=LOADED_AT)
    assert (again.version, again.changed) == (1, False)
    report = await _report(county, "2027-01-29", "corrected")
    assert report["deadline"] == "2027-03-04"

    corrected = Schedule.checked(
        2027, schedule.holidays, schedule.working_days - {date(2027, 2, 20)}
    )
    result = await load_schedule(
        session, corrected, source="corrected", loaded_by="c", now=LOADED_AT
    )
    assert (result.version, result.changed) == (2, True)
    assert await recount_deadlines(session, load_policies(), year=2027) == 1
    assert (await _again(county, report))["deadline"] == "2027-03-05"
    versions = await session.scalars(
        select(CalendarDay.version).where(CalendarDay.year == 2027).distinct()
    )
    assert list(versions) == [2]
    assert await session.scalar(
        select(func.count()).select_from(CalendarDay).where(CalendarDay.year == 2027)
    ) == len(corrected.holidays) + len(corrected.working_days)
    loads = await session.scalars(
        select(CalendarSchedule.loaded_by)
        .where(CalendarSchedule.year == 2027)
        .order_by(CalendarSchedule.version)
    )
    assert list(loads) == ["a", "c"]


async def test_the_migration_seeds_chinese_calendar_years_as_version_1(
    session: AsyncSession,
) -> None:
    seeded = await session.get_one(CalendarSchedule, (2026, 1))
    assert seeded.source.startswith("chinese-calendar ")
    assert seeded.loaded_by == "migration 0019"
    assert seeded.digest == from_chinese_calendar(2026).digest()
    assert await session.get(CalendarSchedule, (2027, 1)) is None


async def test_coverage_follows_the_loaded_years(session: AsyncSession) -> None:
    before = await coverage(session, date(2026, 12, 6))
    assert (before.covered_through, before.uncovered_days) == (date(2026, 12, 31), 64)
    schedule, source = read_schedule(TEST_2027)
    await load_schedule(session, schedule, source=source, loaded_by="t", now=LOADED_AT)
    after = await coverage(session, date(2026, 12, 6))
    assert (after.covered_through, after.uncovered_days) == (date(2027, 12, 31), 0)


@pytest.mark.parametrize(
    ("now", "covered_through", "uncovered"),
    [
        ("2026-12-06T10:00:00+08:00", "2026-12-31", 64),
        ("2026-06-01T10:00:00+08:00", "2026-12-31", 0),
    ],
)
async def test_readyz_and_the_metric_say_when_the_next_90_days_are_not_covered(
    api: Api, now: str, covered_through: str, uncovered: int
) -> None:
    """A warning detail: readiness stays true when the arrangement runs out."""
    api.set_now(now)
    client = await api.new_client(Role.ADMIN)
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert ready.json()["calendar"] == {
        "covered_through": covered_through,
        "next_days_covered": uncovered == 0,
        "uncovered_days": uncovered,
        "lookahead_days": 90,
    }
    metrics = (await client.get("/metrics")).text
    assert f"certsvc_calendar_uncovered_days {float(uncovered)}" in metrics
