"""Faults: PostgreSQL stopped mid-load and started again, and a client that leaves mid-stream
(a frozen server: tests/faults/test_frozen_database.py).

The database test runs its own throwaway PostgreSQL cluster (tests/faults/cluster.py) so that
it can stop and restart it. Without the server binaries it is skipped with a reason, except
under CI=true, where that is a failure (the policy of tests/conftest.py).

A webhook receiver that hangs is covered by tests/api/test_delivery.py
(test of the delivery worker against a receiver that is down, fails, hangs and comes back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from starlette.requests import ClientDisconnect

from app.domain.enums import Role
from app.main import create_app
from app.protection import load_id_protector
from tests.conftest import Api, make_settings
from tests.factories import id_number, recipient
from tests.faults.cluster import Cluster, Outcome, client_key, post_recipient, served_client

# Every request while the database is down must answer within this many seconds.
QUICK = 5.0


async def test_postgres_stopped_mid_load_gives_quick_503s_then_recovers_without_restart(
    cluster: Cluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No rate limits: the caller stays authenticated from the process's cache while the
    # database is down, and the workers' quick 503s would otherwise exceed the county's rate.
    settings = make_settings(
        tmp_path,
        cluster.url,
        db_connect_timeout_seconds=2,
        db_statement_timeout_seconds=5,
        rate_limits={},
    )
    app = create_app(settings)
    key = await client_key(settings, Role.COUNTY, ("1404",))
    outcomes: list[Outcome] = []
    stopped = asyncio.Event()
    stopped_at = 0.0

    async with served_client(app, key, request_seconds=30) as client:
        assert (await client.get("/readyz")).json()["ready"] is True

        async def worker() -> None:
            # Keep posting until a while after the database has gone.
            while not stopped.is_set() or time.monotonic() - stopped_at < 2:
                outcomes.append(await post_recipient(client, id_number()))

        with caplog.at_level(logging.WARNING):
            workers = [asyncio.create_task(worker()) for _ in range(4)]
            while sum(o.status == 201 for o in outcomes) < 20:
                await asyncio.sleep(0.01)
                assert not any(w.done() for w in workers), "a worker failed early"
            # Stop the server under load: in-flight requests lose their connections.
            await asyncio.to_thread(cluster.stop, "immediate")
            stopped_at = time.monotonic()
            stopped.set()
            await asyncio.wait_for(asyncio.gather(*workers), timeout=30)

            after = [o for o in outcomes if o.started > stopped_at]
            assert len(after) >= 4
            started = time.monotonic()
            ready = await client.get("/readyz")
            assert time.monotonic() - started < QUICK
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
            r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
        ]

        # Never a 500, never a hang; once it is down, always a quick 503.
        assert {o.status for o in outcomes} <= {201, 503}, {o.status for o in outcomes}
        assert max(o.elapsed for o in outcomes) < QUICK
        assert all(o.status == 503 and o.code == "database_unavailable" for o in after)
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert ready.json()["database"] == "unreachable"

        # The same app, the same engine: the server comes back, and so does the service.
        await asyncio.to_thread(cluster.start)
        deadline = time.monotonic() + 20
        recovered: Outcome | None = None
        while time.monotonic() < deadline:
            attempt = await post_recipient(client, id_number())
            outcomes.append(attempt)
            assert attempt.status in (201, 503), attempt
            if attempt.status == 201:
                recovered = attempt
                break
            await asyncio.sleep(0.2)
        assert recovered is not None, "the service did not recover after the database did"
        # Every pooled connection works again, not just one.
        again = await asyncio.gather(*(post_recipient(client, id_number()) for _ in range(8)))
        outcomes.extend(again)
        assert {o.status for o in again} == {201}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["ready"] is True
        for outcome in outcomes:
            if outcome.status == 201:
                fetched = await client.get(f"/v1/recipients/{outcome.recipient_id}")
                assert fetched.status_code == 200, fetched.text
                assert len(fetched.json()["benefits"]) == 2

    # No partial writes, checked in the database itself.
    protector = load_id_protector(settings)
    connection = await asyncpg.connect(cluster.dsn, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT r.id, r.id_digest, count(b.id) AS benefits"
            " FROM recipients r LEFT JOIN benefits b ON b.recipient_id = r.id GROUP BY r.id"
        )
    finally:
        await connection.close()
    stored = {bytes(row["id_digest"]): (str(row["id"]), row["benefits"]) for row in rows}
    assert {benefits for _, benefits in stored.values()} == {2}, "a half-written recipient"
    created = [o for o in outcomes if o.status == 201]
    failed = [o for o in outcomes if o.status != 201]
    assert len(created) >= 29 and failed
    for outcome in created:
        assert stored[protector.digest(outcome.number)] == (outcome.recipient_id, 2)
    # A request that failed left nothing behind, unless its commit reached the disk just as
    # the server died (then the whole recipient is there, as checked above).
    known = {protector.digest(o.number) for o in outcomes}
    assert set(stored) <= known
    assert len(stored) - len(created) <= 4  # at most the requests in flight at the stop


async def test_a_client_that_leaves_mid_stream_breaks_nothing(
    committing_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    payment = await committing_api.new_client(Role.PAYMENT)
    committing_api.set_now("2026-06-10T10:00:00+08:00")
    for _ in range(3):
        created = await county.post("/v1/recipients", json=recipient())
        assert created.status_code == 201, created.text
    run = await payment.post("/v1/payment-runs", json={"month": "2026-06", "agency_code": "1404"})
    assert run.status_code == 201, run.text
    path = f"/v1/payment-runs/{run.json()['run_id']}/items"
    full = (await payment.get(path)).content
    assert len(full.splitlines()) == 3
    authorization = payment.headers["Authorization"].encode()

    async def leave_mid_stream(spec_version: str) -> list[dict[str, Any]]:
        """One request whose client goes away once the body has begun, the way servers tell
        the app: http.disconnect (ASGI 2.3, uvicorn) or an OSError from send (ASGI 2.4)."""
        sent: list[dict[str, Any]] = []
        body_begun = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await body_begun.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                body_begun.set()
                if spec_version >= "2.4":
                    raise OSError("client went away")
                await asyncio.sleep(1)  # a slow client: the disconnect arrives meanwhile
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": spec_version},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"test"), (b"authorization", authorization)],
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
        }
        await asyncio.wait_for(committing_api.app(scope, receive, send), timeout=5)
        return sent

    # uvicorn (what `certsvc serve` runs) speaks ASGI 2.3: the app hears http.disconnect.
    with caplog.at_level(logging.WARNING):
        sent = await leave_mid_stream("2.3")
        assert [m["type"] for m in sent] == ["http.response.start"]
        assert sent[0]["status"] == 200
        # The service goes on: same stream, whole and unchanged, and no 500 logged.
        assert (await payment.get(path)).content == full
        assert (await county.post("/v1/recipients", json=recipient())).status_code == 201
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []

    # An ASGI 2.4 server raises OSError from send instead; Starlette turns it into
    # ClientDisconnect for the server. No 500 is sent (the 200 has begun) and service goes on.
    # (The app's catch-all handler does log that ClientDisconnect as an "unhandled error".)
    with pytest.raises(ClientDisconnect):
        await leave_mid_stream("2.4")
    assert (await payment.get(path)).content == full
    assert (await county.post("/v1/recipients", json=recipient())).status_code == 201
