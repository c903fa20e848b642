"""The sweep announces each transition once, however often and from however many replicas."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import select

from app.db.engine import create_sessionmaker
from app.db.models import OutboxEvent, VerificationCase
from app.domain.enums import Role
from app.domain.policy import load_policies
from app.services.sweep import sweep
from tests.conftest import Api, Database
from tests.factories import face, recipient

POLICIES = load_policies()


async def _events(database: Database) -> list[tuple[str, str]]:
    async with create_sessionmaker(database.engine)() as session:
        rows = await session.execute(select(OutboxEvent.event_type, OutboxEvent.dedupe_key))
        return sorted((kind, key) for kind, key in rows)


async def test_a_sweep_run_twice_or_concurrently_announces_each_transition_once(
    committing_api: Api, database: Database
) -> None:
    committing_api.set_now("2026-03-15T10:00:00+08:00")
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    mobile = await committing_api.new_client(Role.MOBILE)
    person = (await county.post("/v1/recipients", json=recipient())).json()
    rid = person["recipient_id"]
    await mobile.post("/v1/certifications", json=face(rid, "2026-03-15T09:00:00+08:00"))
    sessions = create_sessionmaker(database.engine)

    # August: the last month of validity (through 2026-08-31) → due soon, once.
    first = await sweep(sessions, POLICIES, date(2026, 8, 1))
    again = await sweep(sessions, POLICIES, date(2026, 8, 2))
    assert first.events == {"due_soon": 1}
    assert again.events == {}

    # September: suspended, announced once even by two sweeps racing.
    racing = await asyncio.gather(
        sweep(sessions, POLICIES, date(2026, 9, 1)), sweep(sessions, POLICIES, date(2026, 9, 1))
    )
    assert sum(s.events.get("suspended", 0) for s in racing) == 1
    assert (await sweep(sessions, POLICIES, date(2026, 9, 2))).events == {}

    async with sessions() as session:
        cases = (await session.scalars(select(VerificationCase))).all()
    assert [(case.reason, case.status) for case in cases] == [("overdue", "open")]

    # October: certifies again → resumed (with back pay for September), announced once.
    committing_api.set_now("2026-10-10T10:00:00+08:00")
    await mobile.post("/v1/certifications", json=face(rid, "2026-10-10T09:00:00+08:00"))
    resumed = await sweep(sessions, POLICIES, date(2026, 10, 10))
    assert resumed.events == {"resumed": 1}
    assert (await sweep(sessions, POLICIES, date(2026, 10, 11))).events == {}

    kinds = [kind for kind, _ in await _events(database)]
    assert sorted(kinds) == ["certified", "certified", "due_soon", "resumed", "suspended"]
