"""Migration 0018 (registry_history) backfills one value per recipient and per benefit from
the current ones, valid from and recorded at the registration, on both databases; on a fresh
database of its own, not the suite's."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.db.migrate import alembic_config
from app.db.models import RegistryHistory

REGISTERED = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
BENEFIT_ADDED = datetime(2026, 4, 7, 2, 0, tzinfo=UTC)


async def test_backfill_keeps_the_current_values_as_of_the_registration(fresh_url: str) -> None:
    """docs/policy.md §3: "each value with the time it held from and the time the service
    learned it"; rows from before the history existed are valid from, and known at, the
    registration (a dependent with 2 contacts registered 2026-03-02, a resident pension with
    no funeral subsidy added 2026-04-07)."""
    config = alembic_config(fresh_url)
    await asyncio.to_thread(command.upgrade, config, "0017")
    sqlite = "sqlite" in fresh_url
    person, dependent, pension = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def key(value: uuid.UUID) -> object:
        return value.hex if sqlite else value

    def instant(value: datetime) -> object:
        return value.replace(tzinfo=None).isoformat(sep=" ") if sqlite else value

    engine = create_async_engine(fresh_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO recipients (id, id_digest, id_ciphertext, id_masked, birth_date,"
                    " name_ciphertext, residence, emergency_contacts, created_at, updated_at)"
                    " VALUES (:id, :digest, :cipher, '1404**********1237', '1950-01-01',"
                    " :cipher, 'in_province', 2, :at, :at)"
                ),
                {"id": key(person), "digest": b"d" * 32, "cipher": b"c", "at": instant(REGISTERED)},
            )
            for benefit_id, kind, agency, flag, at in (
                (dependent, "work_injury_dependent", "140402", None, REGISTERED),
                (pension, "resident_pension", "430102", False, BENEFIT_ADDED),
            ):
                await connection.execute(
                    text(
                        "INSERT INTO benefits (id, recipient_id, benefit_type, agency_code,"
                        " start_date, approved, funeral_subsidy_area, created_at, updated_at)"
                        " VALUES (:id, :person, :kind, :agency, '2019-05-01', true, :flag,"
                        " :at, :at)"
                    ),
                    {
                        "id": key(benefit_id),
                        "person": key(person),
                        "kind": kind,
                        "agency": agency,
                        "flag": flag,
                        "at": instant(at),
                    },
                )
        await asyncio.to_thread(command.upgrade, config, "0018")
        async with AsyncSession(engine) as session:
            rows = (await session.scalars(select(RegistryHistory))).all()
        values = {
            (row.benefit_id, row.emergency_contacts, row.funeral_subsidy_area, row.is_change)
            for row in rows
        }
        assert values == {
            (None, 2, None, False),
            (dependent, None, None, False),
            (pension, None, False, False),
        }
        times = {row.benefit_id: (row.valid_from, row.recorded_at) for row in rows}
        assert times[None] == times[dependent] == (REGISTERED, REGISTERED)
        assert times[pension] == (BENEFIT_ADDED, BENEFIT_ADDED)
        assert {row.recipient_id for row in rows} == {person}
        assert len({row.id for row in rows}) == 3

        await asyncio.to_thread(command.downgrade, config, "0017")
        async with engine.connect() as connection:
            kept = await connection.scalar(text("SELECT count(*) FROM benefits"))
        assert kept == 2
        await asyncio.to_thread(command.upgrade, config, "head")
    finally:
        await engine.dispose()
