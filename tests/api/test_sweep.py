"""The sweep announces each transition once, however often and from however many replicas."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import select

from app.db.engine import create_sessionmaker
from app.db.models import OutboxEvent, VerificationCase
from app.domain.enums import Role
from app.domain.policy import load_policies
from app.services.suspension.sweep import sweep
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


async def test_statistics_from_the_sweep_equal_the_engine_answers_it_stored(
    committing_api: Api, database: Database
) -> None:
    """The sweep stores each benefit's standing as app.domain.progress computes it, and
    statistics count those: on 2026-08-01 a Shanxi dependent certified 2026-03-15 (valid
    through 2026-08-31, "提前1个月督促": due), one certified 2026-07-10 (valid through
    2027-01-31) and one never certified (withheld since 2026-05-01) count as due, valid and
    suspended, from the sweep alone, exactly as the engine decides them without a sweep."""
    committing_api.set_now("2026-07-20T10:00:00+08:00")
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    mobile = await committing_api.new_client(Role.MOBILE)
    people = [(await county.post("/v1/recipients", json=recipient())).json() for _ in range(3)]
    for person, day in zip(people, ("2026-03-15", "2026-07-10"), strict=False):
        committing_api.set_now(f"{day}T10:00:00+08:00")
        certified = await mobile.post(
            "/v1/certifications", json=face(person["recipient_id"], f"{day}T09:00:00+08:00")
        )
        assert certified.status_code == 201, certified.text
    committing_api.set_now("2026-08-01T10:00:00+08:00")

    async def stats() -> dict[str, int]:
        response = await county.get("/v1/stats", params={"agency_code": "1404", "on": "2026-08-01"})
        assert response.status_code == 200, response.text
        body: dict[str, int] = response.json()
        return body

    decided = await stats()
    assert (decided["evaluated"], decided["from_sweep"]) == (3, 0)
    await sweep(create_sessionmaker(database.engine), POLICIES, date(2026, 8, 1))
    swept = await stats()
    assert (swept["evaluated"], swept["from_sweep"]) == (0, 3)
    counted = ("valid", "due_within_lead_time", "suspended", "stopped", "in_scope")
    assert {field: swept[field] for field in counted} == {
        field: decided[field] for field in counted
    }
    assert (swept["valid"], swept["due_within_lead_time"], swept["suspended"]) == (1, 1, 1)
