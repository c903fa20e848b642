"""Migration 0012 (api_clients.expires_at) goes down and up again on both databases, keeping
the clients; on a fresh database of its own, not the suite's."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.migrate import alembic_config, upgrade_to_head


async def _columns_and_names(url: str) -> tuple[set[str], list[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda sync: {column["name"] for column in inspect(sync).get_columns("api_clients")}
            )
            names = list((await connection.execute(text("SELECT name FROM api_clients"))).scalars())
    finally:
        await engine.dispose()
    return columns, names


async def test_key_expiry_migration_goes_down_and_up_keeping_the_clients(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, fresh_url)
    engine = create_async_engine(fresh_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO api_clients (id, name, role, regions, key_digest, key_prefix,"
                    " created_at, expires_at) VALUES (:id, 'kept', 'payment', '[]', :digest,"
                    " 'csk_x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": uuid.uuid4().hex if "sqlite" in fresh_url else uuid.uuid4(), "digest": "d"},
            )
    finally:
        await engine.dispose()
    assert "expires_at" in (await _columns_and_names(fresh_url))[0]

    config = alembic_config(fresh_url)
    await asyncio.to_thread(command.downgrade, config, "0011")
    columns, names = await _columns_and_names(fresh_url)
    assert "expires_at" not in columns and names == ["kept"]

    await asyncio.to_thread(command.upgrade, config, "head")
    columns, names = await _columns_and_names(fresh_url)
    assert "expires_at" in columns and names == ["kept"]
