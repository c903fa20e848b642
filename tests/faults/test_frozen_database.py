"""Faults: PostgreSQL frozen (every process of the cluster SIGSTOPped, as a paused virtual
machine or a stalled storage would leave it) and thawed. Connections stay open and nothing
answers, which a stopped server never does: each request must still give up within about the
statement timeout with a 503, and the service must recover when the server thaws."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.domain.enums import Role
from app.main import create_app
from app.settings import Settings
from tests.conftest import make_settings
from tests.factories import id_number, recipient
from tests.faults.cluster import Cluster, client_key, frozen, post_recipient, served_client

STATEMENT_TIMEOUT = 3.0


def _settings(cluster: Cluster, tmp_path: Path) -> Settings:
    """A one-second connect timeout, STATEMENT_TIMEOUT for statements, no rate limits."""
    return make_settings(
        tmp_path,
        cluster.url,
        db_connect_timeout_seconds=1,
        db_statement_timeout_seconds=STATEMENT_TIMEOUT,
        rate_limits={},
    )


async def test_a_frozen_postgres_answers_503_within_the_statement_timeout_then_recovers(
    cluster: Cluster, tmp_path: Path
) -> None:
    settings = _settings(cluster, tmp_path)
    app = create_app(settings)
    key = await client_key(settings, Role.COUNTY, ("1404",))
    # Counties register; the payment system reads eligibility (app/access.py).
    reader_key = await client_key(settings, Role.PAYMENT, ())
    reading = {"Authorization": f"Bearer {reader_key}"}
    async with served_client(app, key, request_seconds=60) as client:
        # Warm both pools: the engine's (writes) and the read pool (point eligibility).
        made = await asyncio.gather(*(post_recipient(client, id_number()) for _ in range(4)))
        assert {o.status for o in made} == {201}
        recipient_id = made[0].recipient_id
        read = await client.get(f"/v1/recipients/{recipient_id}/eligibility", headers=reading)
        assert read.status_code == 200, read.text

        async def timed(call: Any) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            response = await call
            return response, time.monotonic() - started

        with frozen(cluster):
            answers = await asyncio.gather(
                *(timed(client.post("/v1/recipients", json=recipient())) for _ in range(3)),
                *(
                    timed(client.get(f"/v1/recipients/{recipient_id}/eligibility", headers=reading))
                    for _ in range(3)
                ),
                timed(client.get("/readyz")),
            )
            # A request that starts while the database is still frozen, after the first
            # ones gave up: the pool's connections are then in doubt too.
            later = await asyncio.gather(
                timed(client.post("/v1/recipients", json=recipient())),
                timed(client.get(f"/v1/recipients/{recipient_id}/eligibility", headers=reading)),
            )
        # Each gives up within about the statement timeout (a timed-out statement used to
        # wait out asyncpg's cancellation and SQLAlchemy's 2 s graceful close on top).
        for response, elapsed in [*answers, *later]:
            path = response.request.url.path
            assert response.status_code == 503, (path, response.text)
            assert elapsed < STATEMENT_TIMEOUT + 1.5, (path, elapsed)
            if path != "/readyz":
                assert response.json()["code"] == "database_unavailable"
                assert response.headers["Retry-After"] == "5"

        # Thawed: the same app and pools serve again, without a restart.
        deadline = time.monotonic() + 20
        while (await post_recipient(client, id_number())).status != 201:
            assert time.monotonic() < deadline, "no recovery after the database thawed"
            await asyncio.sleep(0.2)
        again = await asyncio.gather(*(post_recipient(client, id_number()) for _ in range(6)))
        assert {o.status for o in again} == {201}
        reads = await asyncio.gather(
            *(
                client.get(f"/v1/recipients/{recipient_id}/eligibility", headers=reading)
                for _ in range(4)
            )
        )
        assert {r.status_code for r in reads} == {200}
        assert (await client.get("/readyz")).json()["ready"] is True


async def test_a_transaction_caught_by_a_freeze_gives_up_within_the_statement_timeout(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The freeze comes mid-transaction: the request has begun and waits on a lock when the
    server stops answering. Rolling that connection back would wait out asyncpg's cancellation
    (one more statement timeout); the request's session drops it instead."""
    settings = _settings(cluster, tmp_path)
    app = create_app(settings)
    key = await client_key(settings, Role.COUNTY, ("1404",))
    locker = await asyncpg.connect(cluster.dsn, timeout=10)
    async with served_client(app, key, request_seconds=60) as client:
        assert (await post_recipient(client, id_number())).status == 201  # the caller is cached
        transaction = locker.transaction()
        await transaction.start()
        await locker.execute("LOCK TABLE recipients IN ACCESS EXCLUSIVE MODE")
        waiting = asyncio.create_task(post_recipient(client, id_number()))
        await asyncio.sleep(0.5)  # it has begun and waits on the lock
        assert not waiting.done()
        with frozen(cluster):
            outcome = await waiting
        assert outcome.status == 503 and outcome.code == "database_unavailable"
        assert outcome.elapsed < STATEMENT_TIMEOUT + 1.5, outcome.elapsed
        await transaction.rollback()
        deadline = time.monotonic() + 20
        while (await post_recipient(client, id_number())).status != 201:
            assert time.monotonic() < deadline, "no recovery after the database thawed"
            await asyncio.sleep(0.2)
    await locker.close()
