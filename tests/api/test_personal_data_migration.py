"""Migration 0010 on a populated database, on both backends: it seals every stored name and
phone, drops the plaintext columns, and its downgrade gives back exactly what was stored."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db.base import Base
from app.db.migrate import alembic_config
from app.protection import load_id_protector
from app.services.recipients.personal_data import (
    CONTACT_PHONE,
    RECIPIENT_NAME,
    RECIPIENT_PHONE,
    unseal,
)
from app.settings import Settings
from tests.conftest import Database, make_settings
from tests.factories import id_number

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
# Values no other test stores, so that a scan of the SQLite file can only find them here.
PEOPLE = {"迁移测试李秀兰": "13911112222", "迁移测试赵大山": None}
CONTACT = "13733334444"
WRONG_KEY = "w" * 43 + "="

_CLIENTS = sa.table(
    "api_clients",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("role", sa.String()),
    sa.column("regions", sa.JSON()),
    sa.column("key_digest", sa.String()),
    sa.column("key_prefix", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _common() -> tuple[sa.ColumnClause[Any], ...]:
    return (
        sa.column("id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )


_PLAIN_RECIPIENTS = sa.table(
    "recipients",
    *_common(),
    sa.column("id_digest", sa.LargeBinary()),
    sa.column("id_ciphertext", sa.LargeBinary()),
    sa.column("id_masked", sa.String()),
    sa.column("birth_date", sa.Date()),
    sa.column("name", sa.String()),
    sa.column("phone", sa.String()),
    sa.column("residence", sa.String()),
    sa.column("emergency_contacts", sa.Integer()),
)
_SEALED_RECIPIENTS = sa.table(
    "recipients",
    sa.column("id", sa.Uuid()),
    sa.column("name_ciphertext", sa.LargeBinary()),
    sa.column("phone_ciphertext", sa.LargeBinary()),
)
_PLAIN_REQUESTS = sa.table(
    "home_visit_requests",
    *_common(),
    sa.column("recipient_id", sa.Uuid()),
    sa.column("agency_code", sa.String()),
    sa.column("requested_by", sa.String()),
    sa.column("reason", sa.String()),
    sa.column("contact_phone", sa.String()),
    sa.column("status", sa.String()),
    sa.column("client_id", sa.Uuid()),
)
_SEALED_REQUESTS = sa.table(
    "home_visit_requests",
    sa.column("id", sa.Uuid()),
    sa.column("contact_phone_ciphertext", sa.LargeBinary()),
)


async def migrate(url: str, settings: Settings, revision: str, *, down: bool = False) -> None:
    config = alembic_config(url, settings)
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, config, revision)


async def populate_at_0008(engine: AsyncEngine, settings: Settings) -> dict[str, Any]:
    """Two recipients (one without a phone) and a home-visit request, as 0008 stored them."""
    protector = load_id_protector(settings)
    client_id, request_id = uuid.uuid4(), uuid.uuid4()
    ids = {name: uuid.uuid4() for name in PEOPLE}
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(_CLIENTS).values(
                id=client_id,
                name=f"county-{client_id.hex[:8]}",
                role="county",
                regions=["1404"],
                key_digest=client_id.hex * 2,
                key_prefix="test",
                created_at=NOW,
            )
        )
        for name, phone in PEOPLE.items():
            number = id_number()
            await connection.execute(
                sa.insert(_PLAIN_RECIPIENTS).values(
                    id=ids[name],
                    id_digest=protector.digest(number),
                    id_ciphertext=protector.encrypt(number),
                    id_masked=number[:4] + "*" * 10 + number[-4:],
                    birth_date=date(1950, 1, 1),
                    name=name,
                    phone=phone,
                    residence="in_province",
                    emergency_contacts=1,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        await connection.execute(
            sa.insert(_PLAIN_REQUESTS).values(
                id=request_id,
                recipient_id=ids["迁移测试赵大山"],
                agency_code="140402",
                requested_by="family",
                reason="elderly",
                contact_phone=CONTACT,
                status="open",
                client_id=client_id,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return {"recipients": ids, "request": request_id}


async def plain_rows(engine: AsyncEngine) -> tuple[set[tuple[str, str | None]], set[str | None]]:
    async with engine.connect() as connection:
        people = await connection.execute(
            sa.select(_PLAIN_RECIPIENTS.c.name, _PLAIN_RECIPIENTS.c.phone)
        )
        phones = await connection.scalars(sa.select(_PLAIN_REQUESTS.c.contact_phone))
        return {(name, phone) for name, phone in people}, set(phones)


async def columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as connection:
        found = await connection.run_sync(lambda c: sa.inspect(c).get_columns(table))
    return {column["name"] for column in found}


async def test_the_migration_seals_stored_names_and_phones_and_its_downgrade_restores_them(
    database: Database, empty_database: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, empty_database)
    protector = load_id_protector(settings)
    await migrate(empty_database, settings, "0008")
    engine = create_async_engine(empty_database)
    try:
        stored = await populate_at_0008(engine, settings)
        before = await plain_rows(engine)

        await migrate(empty_database, settings, "0010")
        assert not {"name", "phone"} & await columns(engine, "recipients")
        assert "contact_phone" not in await columns(engine, "home_visit_requests")
        async with engine.connect() as connection:
            people = (await connection.execute(sa.select(_SEALED_RECIPIENTS))).all()
            requests = (await connection.execute(sa.select(_SEALED_REQUESTS))).all()
            # The migrated schema is the one the models describe.
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        # Tables of later migrations (their foreign keys name recipients) are not 0010's.
        changed = [d for d in diff if not (isinstance(d, tuple) and d[0] == "add_table")]
        assert [d for d in changed if "recipients" in repr(d) or "home_visit" in repr(d)] == []
        opened = {
            (
                unseal(protector, RECIPIENT_NAME, rid, name),
                unseal(protector, RECIPIENT_PHONE, rid, phone),
            )
            for rid, name, phone in people
        }
        assert opened == set(PEOPLE.items())
        assert [unseal(protector, CONTACT_PHONE, rid, phone) for rid, phone in requests] == [
            CONTACT
        ]
        assert requests[0][0] == stored["request"]
        if database.backend == "sqlite":
            raw = await asyncio.to_thread(Path(make_url(empty_database).database or "").read_bytes)
            for value in [*PEOPLE, CONTACT, "13911112222"]:
                assert value.encode() not in raw

        await migrate(empty_database, settings, "0008", down=True)
        assert await plain_rows(engine) == before
        assert not {"name_ciphertext", "phone_ciphertext"} & await columns(engine, "recipients")

        # And up again: the round trip can be repeated.
        await migrate(empty_database, settings, "0010")
        async with engine.connect() as connection:
            count = await connection.scalar(
                sa.select(sa.func.count()).where(_SEALED_RECIPIENTS.c.name_ciphertext.is_not(None))
            )
        assert count == len(PEOPLE)
    finally:
        await engine.dispose()


async def test_the_migration_refuses_keys_that_do_not_open_the_stored_id_numbers(
    database: Database, empty_database: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, empty_database)
    await migrate(empty_database, settings, "0008")
    engine = create_async_engine(empty_database)
    try:
        await populate_at_0008(engine, settings)
        before = await plain_rows(engine)
        wrong = make_settings(tmp_path, empty_database, id_encryption_key=WRONG_KEY)
        with pytest.raises(RuntimeError, match="do not open the stored ID numbers"):
            await migrate(empty_database, wrong, "0010")
        # Nothing changed: still at 0008, every name and phone as it was.
        async with engine.connect() as connection:
            version = await connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
        assert version == "0008"
        assert await plain_rows(engine) == before
    finally:
        await engine.dispose()


async def test_an_empty_database_migrates_without_any_key(
    database: Database, empty_database: str, tmp_path: Path
) -> None:
    # No settings at all: the migration must not need (or generate) a key to convert nothing.
    config = alembic_config(empty_database)
    await asyncio.to_thread(command.upgrade, config, "0010")
    await asyncio.to_thread(command.downgrade, config, "0008")
    assert not (tmp_path / "keys").exists()
