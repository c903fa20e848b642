"""A scratch PostgreSQL database for a benchmark that creates, fills and drops its own, and
the command line and timing lines such benchmarks share."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url


def arguments(doc: str) -> argparse.Namespace:
    """``--recipients`` (how many rows to fill) and ``--admin-url`` (the server to use)."""
    parser = argparse.ArgumentParser(description=doc.split("\n", maxsplit=1)[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser.parse_args()


@asynccontextmanager
async def scratch_database(admin_url: str, prefix: str) -> AsyncIterator[tuple[str, str]]:
    """A new database ``<prefix>_<8 hex>`` on ``admin_url``'s server, dropped (with its
    connections) afterwards; yields its asyncpg DSN and its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield dsn, dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def print_time(name: str, wall: float, cpu: float, width: int = 44) -> None:
    print(f"{name:<{width}} {wall:8.2f} s wall {cpu:8.2f} s CPU", flush=True)
