"""How every ``certsvc`` command runs its work: on the composition root (`app.runtime.Runtime`),
built once per command, the embedded SQLite database migrated first."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from app.errors import AppError
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

T = TypeVar("T")


def run_with(work: Callable[[Runtime], Coroutine[Any, Any, T]]) -> T:
    """Run a command's work on the composition root (`app/runtime.py`), the embedded SQLite
    database migrated first; an AppError ends the command with one line and exit status 1."""
    from app.runtime import Runtime

    settings = get_settings()
    if settings.is_sqlite:
        upgrade(settings)

    async def run() -> T:
        async with Runtime.open(settings) as runtime:
            return await work(runtime)

    try:
        return asyncio.run(run())
    except AppError as exc:
        print(f"certsvc: {exc.detail or exc.title}", file=sys.stderr)
        raise SystemExit(1) from None


def with_session(work: Callable[[AsyncSession], Coroutine[Any, Any, T]]) -> T:
    """Run one unit of work in one committed transaction (its single commit point)."""

    async def in_transaction(runtime: Runtime) -> T:
        async with runtime.sessions() as session, session.begin():
            return await work(session)

    return run_with(in_transaction)


def upgrade(settings: Settings) -> None:
    """Bring the database to the newest migration."""
    from app.db.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url, settings)


def positive(text: str) -> int:
    """An argument type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
