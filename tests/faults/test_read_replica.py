"""Eligibility reads on a real streaming replica (CERTSVC_READ_DATABASE_URL, issue 18 item 3).

The primary is the fault tests' throwaway cluster (tests/faults/conftest.py: PostgreSQL 15's
defaults give it wal_level=replica and a pg_hba replication entry for 127.0.0.1, which the
fixture checks); the replica is a `pg_basebackup -R` of it on another port, streaming. Which
server answered is proven by data only one of them has: with replay paused on the replica
(`pg_wal_replay_pause()`), a certification posted on the primary is missing there, so a read
that shows it came from the primary and one that does not came from the replica.

Two apps with the same settings stand for two API processes behind a balancer: a client
writes through one and reads through the other, so no process state can carry the mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.db.replica import Replica
from app.domain.enums import Role
from app.main import create_app
from app.services.eligibility.policies import today
from app.settings import Settings
from tests.conftest import make_settings, with_lifespan_state
from tests.factories import face, id_number, recipient
from tests.faults.cluster import Cluster, client_key, free_port, unavailable
from tests.pooler import installed, pgbouncer


@pytest.fixture(scope="module")
def replica(cluster: Cluster) -> Iterator[Cluster]:
    """A streaming replica of ``cluster``, made by pg_basebackup -R and removed afterwards."""
    if not (cluster.bin / "pg_basebackup").exists():
        unavailable(f"pg_basebackup not found in {cluster.bin}")
    asyncio.run(_check_primary_replicates(cluster))
    data = Path(tempfile.mkdtemp(prefix="certsvc-replica-"))
    if cluster.as_postgres:
        shutil.chown(data, "postgres", "postgres")
    standby = Cluster(cluster.bin, data, free_port(), cluster.as_postgres)
    started = False
    try:
        standby.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"),
            *("-D", str(data / "pgdata"), "-R", "-X", "stream", "-c", "fast"),
        )
        standby.start()
        started = True
        yield standby
    finally:
        if started:
            with contextlib.suppress(RuntimeError):  # already stopped by a test
                standby.stop("fast")
        shutil.rmtree(data, ignore_errors=True)


async def _check_primary_replicates(cluster: Cluster) -> None:
    connection = await asyncpg.connect(cluster.dsn, timeout=10)
    try:
        level = await connection.fetchval("SHOW wal_level")
        rules = await connection.fetchval(
            "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)"
        )
    finally:
        await connection.close()
    if level not in ("replica", "logical") or not rules:
        unavailable(f"the throwaway primary cannot stream (wal_level {level}, {rules} rules)")


async def _fetchval(dsn: str, query: str) -> Any:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def caught_up(primary: Cluster, standby: Cluster) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    position = await _fetchval(primary.dsn, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + 30
    while not await _fetchval(
        standby.dsn, f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn"
    ):
        assert time.monotonic() < deadline, "the replica did not catch up"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def replay_paused(standby: Cluster) -> AsyncIterator[None]:
    await _fetchval(standby.dsn, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await _fetchval(standby.dsn, "SELECT pg_wal_replay_resume()")


@dataclass
class Process:
    """One app with its lifespan running: an API process of a deployment."""

    state: dict[str, Any]
    transport: httpx.ASGITransport

    @property
    def replica(self) -> Replica:
        replica = self.state["replica"]
        assert isinstance(replica, Replica)
        return replica

    def client(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )


@contextlib.asynccontextmanager
async def process(settings: Settings) -> AsyncIterator[Process]:
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=with_lifespan_state(app, state))
        yield Process(dict(state or {}), transport)


@dataclass
class Keys:
    county: str
    writer: str  # mobile: certifies, then reads
    reader: str  # mobile: only reads
    payment: str


async def keys(settings: Settings) -> Keys:
    return Keys(
        await client_key(settings, Role.COUNTY, ("1404",)),
        await client_key(settings, Role.MOBILE, ()),
        await client_key(settings, Role.MOBILE, ()),
        await client_key(settings, Role.PAYMENT, ()),
    )


async def register(process: Process, county_key: str) -> str:
    async with process.client(county_key) as county:
        response = await county.post("/v1/recipients", json=recipient(id_number()))
    assert response.status_code == 201, response.text
    rid: str = response.json()["recipient_id"]
    return rid


async def last_certification(client: httpx.AsyncClient, rid: str) -> object:
    response = await client.get(f"/v1/recipients/{rid}/eligibility")
    assert response.status_code == 200, response.text
    return response.json()["benefits"][0]["last_certification"]


async def checked_certification(client: httpx.AsyncClient, rid: str) -> object:
    response = await client.post(
        "/v1/eligibility/check",
        json={"month": today().strftime("%Y-%m"), "recipients": [{"recipient_id": rid}]},
    )
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["benefits"][0]["last_certification"]


def recently() -> str:
    # The service's own clock runs here: certified an hour ago, read today.
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


async def _writer_reads_its_write_others_read_the_replica(
    primary: Cluster, standby: Cluster, settings: Settings
) -> None:
    """The scenario of read-your-writes, through whatever URLs ``settings`` give."""
    key = await keys(settings)
    async with process(settings) as first, process(settings) as second:
        rid = await register(first, key.county)
        await caught_up(primary, standby)
        for each in (first, second):
            await each.replica.refresh()
            assert each.replica.well
        async with (
            first.client(key.writer) as writer_on_first,
            second.client(key.writer) as writer_on_second,
            second.client(key.reader) as reader,
            second.client(key.payment) as payment,
        ):
            # Both servers have the recipient, uncertified: the replica answers everyone.
            assert await last_certification(writer_on_second, rid) is None
            async with replay_paused(standby):
                posted = await writer_on_first.post(
                    "/v1/certifications", json=face(rid, recently())
                )
                assert posted.status_code == 201, posted.text
                certification_id = posted.json()["certification_id"]

                # The writer, at once and through another process: the primary answers.
                seen = await last_certification(writer_on_second, rid)
                assert isinstance(seen, dict) and seen["certification_id"] == certification_id
                # Another client is answered by the replica, which has not replayed it yet.
                assert await last_certification(reader, rid) is None
                # So is the payment system's batch check, twice: a check marks nothing.
                assert await checked_certification(payment, rid) is None
                assert await checked_certification(payment, rid) is None
                assert second.replica.well  # the lag bound (an hour) is not in play here
            await caught_up(primary, standby)
            seen = await last_certification(reader, rid)
            assert isinstance(seen, dict) and seen["certification_id"] == certification_id


async def test_a_client_sees_its_write_at_once_while_others_read_the_paused_replica(
    cluster: Cluster, replica: Cluster, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        cluster.url,
        read_database_url=replica.url,
        read_max_lag_seconds=3600,
        rate_limits={},
    )
    await _writer_reads_its_write_others_read_the_replica(cluster, replica, settings)


async def test_the_same_behind_transaction_poolers(
    cluster: Cluster, replica: Cluster, tmp_path: Path
) -> None:
    if not installed():
        unavailable("pgbouncer is not installed (apt-get install pgbouncer)")
    async with pgbouncer(cluster.url) as primary_url, pgbouncer(replica.url) as replica_url:
        settings = make_settings(
            tmp_path,
            primary_url,
            read_database_url=replica_url,
            read_max_lag_seconds=3600,
            db_transaction_pooler=True,
            rate_limits={},
        )
        await _writer_reads_its_write_others_read_the_replica(cluster, replica, settings)


async def test_a_replica_behind_the_lag_bound_is_not_read(
    cluster: Cluster, replica: Cluster, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, cluster.url, read_database_url=replica.url, read_max_lag_seconds=0.5
    )
    key = await keys(settings)
    async with process(settings) as api:
        rid = await register(api, key.county)
        await caught_up(cluster, replica)
        await api.replica.refresh()
        assert api.replica.well
        async with (
            api.client(key.writer) as writer,
            api.client(key.reader) as reader,
            api.client(key.payment) as payment,
            replay_paused(replica),
        ):
            posted = await writer.post("/v1/certifications", json=face(rid, recently()))
            assert posted.status_code == 201, posted.text
            # The replica's last replayed transaction grows older than the bound.
            await asyncio.sleep(1.0)
            await api.replica.refresh()
            assert not api.replica.well
            # A client that wrote nothing is answered by the primary, with the new certification.
            assert await last_certification(reader, rid) is not None
            assert await checked_certification(payment, rid) is not None
        await caught_up(cluster, replica)
        await api.replica.refresh()
        assert api.replica.well


async def test_a_replica_that_is_down_does_not_fail_reads(
    cluster: Cluster, replica: Cluster, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        cluster.url,
        read_database_url=replica.url,
        db_connect_timeout_seconds=2,
        rate_limits={},
    )
    key = await keys(settings)
    async with process(settings) as api:
        rid = await register(api, key.county)
        await caught_up(cluster, replica)
        await api.replica.refresh()
        assert api.replica.well
        async with api.client(key.reader) as reader, api.client(key.payment) as payment:
            assert await last_certification(reader, rid) is None  # warms the replica's pool
            assert "certsvc_read_replica_in_use 1.0" in (await reader.get("/metrics")).text
            await asyncio.to_thread(replica.stop, "immediate")
            try:
                # Judged well a moment ago: the read meets the dead replica, then the primary.
                started = time.monotonic()
                assert await last_certification(reader, rid) is None
                assert not api.replica.well
                assert await checked_certification(payment, rid) is None
                # The next probe finds it unreachable; reads keep going to the primary.
                await api.replica.refresh()
                assert not api.replica.well
                assert await last_certification(reader, rid) is None
                assert time.monotonic() - started < 10
                assert "certsvc_read_replica_in_use 0.0" in (await reader.get("/metrics")).text
            finally:
                await asyncio.to_thread(replica.start)
        await caught_up(cluster, replica)
        await api.replica.refresh()
        assert api.replica.well
