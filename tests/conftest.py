"""Test harness: every database test runs on SQLite and on PostgreSQL, schema built by Alembic.

Each test runs inside an outer transaction that is rolled back afterwards; the app's
per-request transactions become savepoints in it. Tests of real concurrency use the
``committing`` fixtures instead, which commit for real and empty the tables afterwards.

PostgreSQL comes from CERTSVC_TEST_POSTGRES_URL (default: the local server, database
postgres); the suite creates and drops its own database. Without a reachable server the
PostgreSQL half is skipped with a reason, except under CI=true, where that is a failure.
With CERTSVC_TEST_THROUGH_PGBOUNCER=1 the service (and each test's own connections) reach that
database through a real PgBouncer in transaction mode, the settings an agency would use behind
one (``db_transaction_pooler``); migrations and tests of PostgreSQL's own sessions and locks use
``Database.direct_url``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.db.base import Base
from app.db.engine import create_engine, create_sessionmaker
from app.db.migrate import upgrade_to_head
from app.deps import get_now, get_session, get_sessions
from app.domain.enums import Role
from app.main import create_app
from app.protection import IdProtector, load_id_protector
from app.services.accounts.clients import create_client
from app.settings import Settings
from tests import pooler

ADMIN_URL = os.environ.get(
    "CERTSVC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
HMAC_KEY = "h" * 43 + "="
ENCRYPTION_KEY = "e" * 43 + "="
BACKENDS = ("sqlite", "postgresql")
# The PostgreSQL half once more, the service reaching the database through a real PgBouncer in
# transaction mode (scripts/check.py runs it; docs/deploy.md, "PgBouncer").
THROUGH_PGBOUNCER = os.environ.get("CERTSVC_TEST_THROUGH_PGBOUNCER") == "1"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgres_reason() -> str | None:
    try:
        connection = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {make_url(ADMIN_URL).render_as_string()} unreachable: {exc!r}"
    await connection.close()
    return None


@dataclass
class Database:
    backend: str
    url: str  # what the service connects to: through PgBouncer in the pooled pass
    engine: AsyncEngine
    settings: Settings
    direct_url: str  # the database itself, for tests of PostgreSQL's own sessions and locks

    @property
    def pooled(self) -> bool:
        return self.url != self.direct_url


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certsvc")


@pytest.fixture(scope="session")
async def postgres_database() -> AsyncIterator[str | None]:
    """Create a fresh PostgreSQL database for this run, or None (with the skip reason kept)."""
    reason = await _postgres_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        _SKIP_REASONS["postgresql"] = reason
        yield None
        return
    async with scratch_postgres("certsvc_test") as url:
        _DIRECT_URLS[url] = url
        if not THROUGH_PGBOUNCER:
            yield url
            return
        if not pooler.installed():
            pytest.fail("CERTSVC_TEST_THROUGH_PGBOUNCER=1 but pgbouncer is not installed")
        async with pooler.pgbouncer(url, pool_size=20) as pooled:
            _DIRECT_URLS[pooled] = url
            yield pooled


@asynccontextmanager
async def scratch_postgres(prefix: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def require_postgres() -> None:
    """Skip the test when the test server is unreachable (fail it under CI)."""
    reason = await _postgres_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@pytest.fixture(params=BACKENDS)
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each backend, without the session's schema (migration tests that
    start from nothing), dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migration.db'}"
        return
    await require_postgres()
    async with scratch_postgres("certsvc_migration") as url:
        yield url


@pytest.fixture
async def empty_database(database: Database, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the test's backend with no schema yet (migration tests), dropped after."""
    if database.backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    async with scratch_postgres("certsvc_migration") as url:
        yield url


_SKIP_REASONS: dict[str, str] = {}
_DIRECT_URLS: dict[str, str] = {}
_DATABASES: dict[str, Database] = {}


@pytest.fixture(scope="session")
async def databases(
    workdir: Path, postgres_database: str | None
) -> AsyncIterator[dict[str, Database]]:
    urls = {"sqlite": f"sqlite+aiosqlite:///{workdir / 'test.db'}"}
    if postgres_database is not None:
        urls["postgresql"] = postgres_database
    for backend, url in urls.items():
        direct = _DIRECT_URLS.get(url, url)
        await asyncio.to_thread(upgrade_to_head, direct)
        settings = make_settings(workdir, url)
        _DATABASES[backend] = Database(backend, url, create_engine(settings), settings, direct)
    yield _DATABASES
    for database in _DATABASES.values():
        await database.engine.dispose()


def make_settings(workdir: Path, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": workdir,
        "database_url": url,
        "id_hmac_key": HMAC_KEY,
        "id_encryption_key": ENCRYPTION_KEY,
        # Whatever reaches the database through the suite's PgBouncer is set up for it.
        "db_transaction_pooler": _DIRECT_URLS.get(url, url) != url,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, databases: dict[str, Database]) -> Database:
    backend: str = request.param
    if backend not in databases:
        pytest.skip(_SKIP_REASONS.get(backend, f"{backend} unavailable"))
    return databases[backend]


@pytest.fixture
def protector(database: Database) -> IdProtector:
    return load_id_protector(database.settings)


@pytest.fixture
async def connection(database: Database) -> AsyncIterator[AsyncConnection]:
    """An outer transaction that every session of the test joins, rolled back at the end."""
    async with database.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session


@dataclass
class Api:
    """An app and a way to make clients of it with a given role and regions."""

    app: Any
    new_client: Callable[..., Awaitable[httpx.AsyncClient]]
    fastapi: FastAPI

    def set_now(self, instant: str | datetime) -> None:
        """Freeze the service's clock, to replay the notices' dates."""
        frozen = datetime.fromisoformat(instant) if isinstance(instant, str) else instant

        async def now() -> datetime:
            return frozen

        self.fastapi.dependency_overrides[get_now] = now


def with_lifespan_state(app: Any, state: Mapping[str, Any] | None) -> Any:
    """Hand the lifespan's state to each request, as an ASGI server does (httpx's
    ASGITransport runs no lifespan)."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["state"] = dict(state or {})
        await app(scope, receive, send)

    return asgi


async def _client_factory(
    app: Any, sessions: Callable[[], AsyncSession], opened: list[httpx.AsyncClient]
) -> Callable[..., Awaitable[httpx.AsyncClient]]:
    async def new_client(
        role: Role = Role.ADMIN, regions: tuple[str, ...] = ()
    ) -> httpx.AsyncClient:
        async with sessions() as session, session.begin():
            _, key = await create_client(session, f"test-{uuid.uuid4().hex[:8]}", role, regions)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        )
        opened.append(client)
        return client

    return new_client


@pytest.fixture
async def api(database: Database, connection: AsyncConnection) -> AsyncIterator[Api]:
    """The app, with every request's transaction nested in the test's outer transaction."""
    async with joined_api(create_app(database.settings, engine=database.engine), connection) as api:
        yield api


@asynccontextmanager
async def joined_api(app: FastAPI, connection: AsyncConnection) -> AsyncIterator[Api]:
    """``app`` in its lifespan, every request's transaction nested in ``connection``'s (the
    `api` fixture's; tests of several apps at once make each of theirs with it)."""

    def sessions() -> AsyncSession:
        return AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

    async def session_override() -> AsyncIterator[AsyncSession]:
        async with sessions() as session, session.begin():
            yield session

    app.dependency_overrides[get_session] = session_override

    async def sessions_override() -> Callable[[], AsyncSession]:
        return sessions

    app.dependency_overrides[get_sessions] = sessions_override
    opened: list[httpx.AsyncClient] = []
    async with app.router.lifespan_context(app) as state:
        asgi = with_lifespan_state(app, state)
        yield Api(asgi, await _client_factory(asgi, sessions, opened), app)
        for client in opened:
            await client.aclose()


@pytest.fixture
async def committing_api(database: Database) -> AsyncIterator[Api]:
    """The app as deployed: real commits, real concurrent connections. Tables are emptied after."""
    app = create_app(database.settings, engine=database.engine)
    opened: list[httpx.AsyncClient] = []
    async with app.router.lifespan_context(app) as state:
        asgi = with_lifespan_state(app, state)
        sessions = create_sessionmaker(database.engine)
        yield Api(asgi, await _client_factory(asgi, sessions, opened), app)
        for client in opened:
            await client.aclose()
    await empty_tables(database.engine)


# Reference data the migrations seed (the official calendar, 0019), which every test reads.
SEEDED_TABLES = frozenset({"calendar_schedules", "calendar_days"})


async def empty_tables(engine: AsyncEngine) -> None:
    tables = [
        table.name
        for table in reversed(Base.metadata.sorted_tables)
        if table.name not in SEEDED_TABLES
    ]
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))
