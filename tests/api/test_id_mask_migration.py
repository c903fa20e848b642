"""Revision 0011 rewrites the stored masks: no stored row keeps the ID number's last four."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import insert, select

from app.db.engine import create_engine
from app.db.migrate import alembic_config
from app.db.models import Recipient
from app.domain.id_numbers import mask_id_number
from tests.conftest import make_settings
from tests.factories import id_number


async def _masks(url: str, tmp_path: Path) -> list[str]:
    engine = create_engine(make_settings(tmp_path, url))
    try:
        async with engine.connect() as connection:
            rows = await connection.scalars(select(Recipient.id_masked).order_by(Recipient.id))
            return list(rows)
    finally:
        await engine.dispose()


async def test_the_migration_hides_the_serial_and_check_of_stored_masks_and_reverts(
    empty_database: str, tmp_path: Path
) -> None:
    config = alembic_config(empty_database)
    await asyncio.to_thread(command.upgrade, config, "0010")
    numbers = sorted([id_number(), id_number(), id_number(region="430102")])
    engine = create_engine(make_settings(tmp_path, empty_database))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    try:
        async with engine.begin() as connection:
            for index, number in enumerate(numbers):
                await connection.execute(
                    insert(Recipient).values(
                        id=uuid.UUID(int=index + 1),
                        id_digest=bytes([index]) * 32,
                        id_ciphertext=b"x" * 64,
                        id_masked=number[:4] + "*" * 10 + number[-4:],  # the old mask
                        birth_date=date(1950, 1, 1),
                        name_ciphertext=b"n" * 40,
                        residence="in_province",
                        emergency_contacts=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
    finally:
        await engine.dispose()

    await asyncio.to_thread(command.upgrade, config, "0011")
    new_masks = [mask_id_number(number) for number in numbers]
    assert await _masks(empty_database, tmp_path) == new_masks
    assert new_masks[2] == "4301**************"

    # Back to 0010: the schema takes the new masks as they are; the last four stay hidden.
    await asyncio.to_thread(command.downgrade, config, "0010")
    assert await _masks(empty_database, tmp_path) == new_masks
