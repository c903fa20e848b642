"""Alembic, driven from code: ``certsvc migrate``, the SQLite start-up, tests and /readyz."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import ensure_sqlite_folder
from app.settings import Settings


def migrations_dir() -> Path:
    """The repository's migrations/ folder, or the copy a built wheel carries in the package."""
    packaged = Path(__file__).resolve().parent.parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "migrations"


def alembic_config(database_url: str, settings: Settings | None = None) -> Config:
    """``settings`` give a migration that re-seals stored rows (0010) the service's keys;
    without them it reads the environment's (``get_settings()``), and only if it has rows to
    convert."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    # Kept out of the ini machinery, where "%" in a password would be an interpolation.
    config.attributes["database_url"] = database_url
    if settings is not None:
        config.attributes["settings"] = settings
    return config


def upgrade_to_head(database_url: str, settings: Settings | None = None) -> None:
    """Blocking: runs its own event loop (see migrations/env.py). Call outside a running loop,
    or from a worker thread."""
    ensure_sqlite_folder(database_url)
    command.upgrade(alembic_config(database_url, settings), "head")


@lru_cache(maxsize=1)
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def database_revision(engine: AsyncEngine) -> str | None:
    """The migration the database is at, read on a read-only connection after a ``SELECT 1``
    (which fails, as an exception, when the database does not answer)."""
    async with engine.connect() as connection:
        await connection.execution_options(read_only=True)
        await connection.execute(text("SELECT 1"))
        return await current_revision(connection)


async def current_revision(connection: AsyncConnection) -> str | None:
    try:
        result = await connection.execute(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        return None
    return result.scalar_one_or_none()
