"""Rate limits across API replicas: two apps (two lifespans, as two processes would be) that
count in one Redis let a client through only its rate and an address only its failures; a
Redis that is down or frozen lets requests through (fail open), counted on /metrics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.enums import Role
from app.main import create_app
from tests.conftest import Api, Database, joined_api
from tests.factories import id_number
from tests.faults.cluster import free_port
from tests.shared_redis import require_redis


@asynccontextmanager
async def replicas(
    database: Database, connection: AsyncConnection, storage: str, count: int = 2
) -> AsyncIterator[list[Api]]:
    """``count`` apps of one deployment: a county's rate of 1 per second (a burst of 2), two
    failed authentications per address a minute, all counted in ``storage``."""
    settings = database.settings.model_copy(
        update={
            "rate_limits": {Role.COUNTY: 1.0},
            "auth_failures_per_address": 2,
            "rate_limit_storage": storage,
            "rate_limit_storage_timeout_seconds": 0.2,
        }
    )
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                joined_api(create_app(settings, engine=database.engine), connection)
            )
            for _ in range(count)
        ]


def as_the_same_client(client: httpx.AsyncClient, api: Api) -> httpx.AsyncClient:
    """``client``'s key, sent to another replica."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app), base_url="http://test", headers=client.headers
    )


def from_address(api: Api, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app, client=(address, 40000)),
        base_url="http://test",
        headers={"Authorization": "Bearer csk_guess"},
    )


async def lookups_by_turns(clients: Sequence[httpx.AsyncClient], rounds: int) -> list[int]:
    statuses = []
    for _ in range(rounds):
        for client in clients:
            answer = await client.post("/v1/recipients/lookup", json={"id_number": id_number()})
            statuses.append(answer.status_code)
    return statuses


async def test_two_replicas_sharing_redis_let_a_client_through_only_its_rate(
    database: Database, connection: AsyncConnection
) -> None:
    async with replicas(database, connection, await require_redis()) as (first, second):
        on_first = await first.new_client(Role.COUNTY, ("1404",))
        async with as_the_same_client(on_first, second) as on_second:
            statuses = await lookups_by_turns([on_first, on_second], rounds=2)
            assert statuses == [404, 404, 429, 429]  # the burst of 2, not 2 per replica
            refused = await on_second.post("/v1/recipients/lookup", json={"id_number": id_number()})
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 2


async def test_replicas_counting_in_their_own_memory_each_allow_the_rate(
    database: Database, connection: AsyncConnection
) -> None:
    """What the shared storage is for: with memory://, N replicas let a client N times through."""
    async with replicas(database, connection, "memory://") as (first, second):
        on_first = await first.new_client(Role.COUNTY, ("1404",))
        async with as_the_same_client(on_first, second) as on_second:
            statuses = await lookups_by_turns([on_first, on_second], rounds=3)
    assert statuses == [404, 404, 404, 404, 429, 429]


async def test_failed_authentications_count_across_replicas_sharing_redis(
    database: Database, connection: AsyncConnection
) -> None:
    address = f"2001:db8::{uuid.uuid4().hex[:4]}"  # a fresh address: Redis outlives the test
    async with (
        replicas(database, connection, await require_redis()) as (first, second),
        from_address(first, address) as via_first,
        from_address(second, address) as via_second,
    ):
        assert (await via_first.get("/v1/webhooks")).status_code == 401
        assert (await via_second.get("/v1/webhooks")).status_code == 401
        refused = await via_first.get("/v1/webhooks")
        assert refused.status_code == 429
        assert refused.json()["code"] == "auth_failures_limited"
        assert (await via_second.get("/v1/webhooks")).status_code == 429


async def test_a_redis_that_is_down_lets_requests_through_and_says_so_on_metrics(
    database: Database, connection: AsyncConnection
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with replicas(database, connection, nowhere, count=1) as (replica,):
        client = await replica.new_client(Role.COUNTY, ("1404",))
        statuses = await lookups_by_turns([client], rounds=4)
        metrics = (await client.get("/metrics")).text
    assert statuses == [404, 404, 404, 404]
    # Two checks per request: the address's failures, then the client's rate.
    assert "certsvc_rate_limit_storage_errors_total 8.0" in metrics


@asynccontextmanager
async def frozen_redis() -> AsyncIterator[str]:
    """A server that accepts connections and never answers, as a Redis stopped with SIGSTOP."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_frozen_redis_costs_a_request_about_the_storage_timeout_not_a_hang(
    database: Database, connection: AsyncConnection
) -> None:
    async with (
        frozen_redis() as storage,
        replicas(database, connection, storage, count=1) as (replica,),
    ):
        client = await replica.new_client(Role.COUNTY, ("1404",))
        started = time.perf_counter()
        answer = await client.post("/v1/recipients/lookup", json={"id_number": id_number()})
        elapsed = time.perf_counter() - started
    assert answer.status_code == 404
    assert elapsed < 1.0  # two checks of 0.2 s each, not retried, and nothing else waits
