"""The daily sweep of `certsvc worker` processes (issue 18): once per Beijing day for the whole
deployment however many workers run, not before ``CERTSVC_SWEEP_AT``, again the next day, and
a day whose sweep was cut off mid-way is swept whole by the next worker without announcing
anything twice. The workers are asyncio tasks, each with its own sessionmaker (so, on
PostgreSQL, its own connections and its own advisory locks); their clocks are injected."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db.engine import SessionMaker, create_sessionmaker
from app.db.locks import held_advisory_lock
from app.db.models import AuditEntry, OutboxEvent, VerificationCase
from app.domain.enums import Role
from app.domain.policy import load_policies
from app.services.suspension import daily, sweep
from app.services.suspension.daily import Outcome, run_daily_sweep, sweep_day_once, was_swept
from tests.conftest import Api, Database
from tests.factories import face, recipient

POLICIES = load_policies()
# Certified 2026-03-15: valid through 2026-08-31, so suspended (overdue) from 2026-09-01.
OVERDUE_ON = date(2026, 9, 1)
SWEEP_AT = time(1, 0)


async def _overdue_people(api: Api, count: int) -> None:
    """``count`` Changzhi recipients certified on 2026-03-15, overdue on 2026-09-01."""
    api.set_now("2026-03-15T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    for _ in range(count):
        person = (await county.post("/v1/recipients", json=recipient())).json()
        certified = await mobile.post(
            "/v1/certifications", json=face(person["recipient_id"], "2026-03-15T09:00:00+08:00")
        )
        assert certified.status_code == 201, certified.text


async def _count(sessions: SessionMaker, query: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(query) or 0)


def _suspensions() -> Any:
    return select(func.count()).where(OutboxEvent.event_type == "suspended")


def _cases() -> Any:
    return select(func.count()).select_from(VerificationCase)


def _sweeps(day: date | None = None) -> Any:
    query = select(func.count()).where(AuditEntry.action == daily.SWEPT)
    return query if day is None else query.where(AuditEntry.resource_id == day.isoformat())


class Clock:
    """A worker's clock: Beijing wall time set by the test; counts the worker's looks."""

    def __init__(self, at: str) -> None:
        self.set(at)
        self.reads = 0

    def set(self, at: str) -> None:
        self.at = datetime.fromisoformat(at)

    def __call__(self) -> datetime:
        self.reads += 1
        return self.at


async def _until(condition: Callable[[], Any], seconds: float = 20.0) -> None:
    """Wait until ``condition`` (a look at the database or at the clocks) holds: what the
    workers do shows only there, so it is looked at, not waited on."""
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_sweeping_a_day_twice_records_no_event_and_no_case_twice(
    committing_api: Api, database: Database
) -> None:
    await _overdue_people(committing_api, 2)
    sessions = create_sessionmaker(database.engine)
    first = await sweep.sweep(sessions, POLICIES, OVERDUE_ON)
    again = await sweep.sweep(sessions, POLICIES, OVERDUE_ON)
    assert (first.events, first.cases_opened, first.finished) == ({"suspended": 2}, 2, True)
    assert (again.events, again.cases_opened, again.finished) == ({}, 0, True)
    assert await _count(sessions, _suspensions()) == 2
    assert await _count(sessions, _cases()) == 2


async def test_a_sweep_cut_off_mid_day_is_finished_by_the_next_worker_announcing_nothing_twice(
    committing_api: Api, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if the first worker died after its first chunk: its lock is gone, the day has no
    entry, and the next worker sweeps the whole day again; the chunk already committed
    announces nothing the second time."""
    await _overdue_people(committing_api, 3)
    sessions = create_sessionmaker(database.engine)
    monkeypatch.setattr(sweep, "CHUNK", 1)
    stop = asyncio.Event()
    chunk = sweep._sweep_chunk

    async def then_stop(*args: Any) -> None:
        await chunk(*args)
        stop.set()

    monkeypatch.setattr(sweep, "_sweep_chunk", then_stop)
    cut_off = await sweep_day_once(sessions, POLICIES, OVERDUE_ON, stop)
    assert cut_off.outcome is Outcome.STOPPED
    assert cut_off.summary is not None and cut_off.summary.events == {"suspended": 1}
    assert not await was_swept(sessions, OVERDUE_ON)

    monkeypatch.setattr(sweep, "_sweep_chunk", chunk)
    finished = await sweep_day_once(sessions, POLICIES, OVERDUE_ON)
    assert finished.outcome is Outcome.SWEPT
    assert finished.summary is not None
    assert (finished.summary.benefits, finished.summary.events) == (3, {"suspended": 2})
    assert await was_swept(sessions, OVERDUE_ON)
    assert await _count(sessions, _suspensions()) == 3
    assert await _count(sessions, _cases()) == 3
    assert (await sweep_day_once(sessions, POLICIES, OVERDUE_ON)).outcome is Outcome.ALREADY_SWEPT
    assert await _count(sessions, _sweeps()) == 1


async def test_a_day_another_worker_is_sweeping_is_left_to_it(
    committing_api: Api, database: Database
) -> None:
    await _overdue_people(committing_api, 1)
    mine, theirs = create_sessionmaker(database.engine), create_sessionmaker(database.engine)
    async with held_advisory_lock(theirs, daily._LOCK_KEY, OVERDUE_ON.toordinal()) as held:
        assert held
        assert (await sweep_day_once(mine, POLICIES, OVERDUE_ON)).outcome is Outcome.BUSY
        # Another day's lock is another lock.
        other_day = await sweep_day_once(mine, POLICIES, date(2026, 9, 2))
        assert other_day.outcome is Outcome.SWEPT
    # The holder is gone (its connection closed with it): the day is this worker's now.
    assert (await sweep_day_once(mine, POLICIES, OVERDUE_ON)).outcome is Outcome.SWEPT
    assert await _count(mine, _sweeps()) == 2


async def test_two_workers_sweep_the_day_once_not_before_its_time_and_again_the_next_day(
    committing_api: Api, database: Database
) -> None:
    await _overdue_people(committing_api, 2)
    look = create_sessionmaker(database.engine)
    stop = asyncio.Event()
    clocks = [Clock("2026-09-01T00:30:00+08:00"), Clock("2026-09-01T00:30:00+08:00")]
    workers = [
        asyncio.create_task(
            run_daily_sweep(
                create_sessionmaker(database.engine),
                POLICIES,
                SWEEP_AT,
                stop,
                poll_interval=0.01,
                now=clock,
            )
        )
        for clock in clocks
    ]

    async def each_looked(times: int) -> None:
        marks = [clock.reads + times for clock in clocks]

        async def looked() -> bool:
            return all(clock.reads >= mark for clock, mark in zip(clocks, marks, strict=True))

        await _until(looked)

    def swept(day: date) -> Callable[[], Any]:
        async def recorded() -> bool:
            return await _count(look, _sweeps(day)) > 0

        return recorded

    def at(instant: str) -> None:
        for clock in clocks:
            clock.set(instant)

    try:
        await each_looked(5)
        assert await _count(look, _sweeps()) == 0  # 00:30: not yet
        assert await _count(look, _suspensions()) == 0

        at("2026-09-01T01:00:00+08:00")
        await _until(swept(OVERDUE_ON))
        await each_looked(5)
        assert await _count(look, _sweeps(OVERDUE_ON)) == 1
        assert await _count(look, _suspensions()) == 2

        at("2026-09-01T23:59:00+08:00")  # later the same day: nothing more
        await each_looked(5)
        assert await _count(look, _sweeps()) == 1

        at("2026-09-02T00:59:00+08:00")  # the next day, before its time
        await each_looked(5)
        assert await _count(look, _sweeps()) == 1

        at("2026-09-02T01:10:00+08:00")
        await _until(swept(date(2026, 9, 2)))
        await each_looked(5)
        assert await _count(look, _sweeps(date(2026, 9, 2))) == 1
        assert await _count(look, _sweeps()) == 2
        assert await _count(look, _suspensions()) == 2  # still suspended: nothing new
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), 10)
    async with look() as session:
        entries = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == daily.SWEPT))
        ).all()
    assert sorted(entry.resource_id for entry in entries) == ["2026-09-01", "2026-09-02"]
    assert [entry.detail["events"] for entry in sorted(entries, key=lambda e: e.resource_id)] == [
        {"suspended": 2},
        {},
    ]


def test_the_sweep_is_due_from_its_beijing_time_on() -> None:
    def due(instant: str) -> date | None:
        return daily.due_day(datetime.fromisoformat(instant), SWEEP_AT)

    assert due("2026-09-01T00:59:59+08:00") is None
    assert due("2026-08-31T17:00:00+00:00") == date(2026, 9, 1)  # 01:00 in Beijing
    assert due("2026-09-01T15:59:00+00:00") == date(2026, 9, 1)  # 23:59 in Beijing
    assert due("2026-09-01T16:59:00+00:00") is None  # 00:59 on 2026-09-02 in Beijing
