"""`app.db.locks.advisory_xact_lock`: on PostgreSQL a lock another session cannot take until
the transaction ends, in either key space; on SQLite (writers serialised already) nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.locks import advisory_xact_lock, digest_lock_key
from tests.conftest import Database


async def _taken_elsewhere(database: Database, *key: int) -> bool:
    """Whether another session finds the lock held (it gives up at once)."""
    names = ", ".join(f":k{index}" for index in range(len(key)))
    async with database.engine.connect() as other, other.begin():
        free = await other.scalar(
            text(f"SELECT pg_try_advisory_xact_lock({names})"),
            {f"k{index}": value for index, value in enumerate(key)},
        )
    return not free


async def test_the_lock_is_held_until_the_transaction_ends(
    database: Database, session: AsyncSession
) -> None:
    await advisory_xact_lock(session, digest_lock_key(b"\xff" * 32))
    await advisory_xact_lock(session, 0x43414C, 2027)
    if database.backend != "postgresql":
        # Nothing ran: SQLite has no pg_advisory_xact_lock, and the session is still usable.
        assert await session.scalar(text("SELECT 1")) == 1
        return
    assert await _taken_elsewhere(database, digest_lock_key(b"\xff" * 32))
    assert await _taken_elsewhere(database, 0x43414C, 2027)
    assert not await _taken_elsewhere(database, 0x43414C, 2028)


def test_a_digest_names_a_signed_64_bit_key() -> None:
    """The first 8 bytes, big-endian, signed: 0xff… is -1, 0x7f ff… the largest key."""
    assert digest_lock_key(b"\xff" * 32) == -1
    assert digest_lock_key(b"\x7f" + b"\xff" * 31) == 2**63 - 1


async def test_a_lock_is_named_by_one_or_two_integers(session: AsyncSession) -> None:
    with pytest.raises(ValueError):
        await advisory_xact_lock(session, 1, 2, 3)
