"""Faults: PostgreSQL stopped mid-load and started again, frozen (SIGSTOP) and thawed, and a
client that leaves mid-stream.

The database tests run their own throwaway PostgreSQL cluster (initdb and pg_ctl in a temporary
folder) so that they can stop, restart, freeze and thaw it. Without the server binaries the
module is skipped with a reason, except under CI=true, where that is a failure (the policy of
tests/conftest.py).

A webhook receiver that hangs is covered by tests/api/test_delivery.py
(test of the delivery worker against a receiver that is down, fails, hangs and comes back).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
from starlette.requests import ClientDisconnect

from app.db.engine import create_engine, create_sessionmaker
from app.db.migrate import upgrade_to_head
from app.domain.enums import Role
from app.main import create_app
from app.protection import load_id_protector
from app.services.clients import create_client
from app.settings import Settings
from tests.conftest import Api, make_settings, with_lifespan_state
from tests.factories import benefit, id_number, recipient

DATABASE = "certsvc_faults"
# Every request while the database is down must answer within this many seconds.
QUICK = 5.0


def _binaries() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        folder = Path(candidate)
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster that a test may stop and start again."""

    bin: Path
    data: Path
    port: int
    as_postgres: bool

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            # initdb and pg_ctl refuse to run as root.
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data / "server.log")
        self.run("pg_ctl", "-D", str(self.data / "pgdata"), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self.run("pg_ctl", "-D", str(self.data / "pgdata"), "-m", mode, "-w", "stop")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    binaries = _binaries()
    if binaries is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    as_postgres = os.geteuid() == 0
    if as_postgres and shutil.which("runuser") is None:
        _unavailable("running as root without runuser to drop to the postgres user")
    # Not under pytest's 0700 folders: the postgres user must be able to reach it.
    data = Path(tempfile.mkdtemp(prefix="certsvc-faults-"))
    if as_postgres:
        shutil.chown(data, "postgres", "postgres")
    cluster = Cluster(binaries, data, _free_port(), as_postgres)
    started = False
    try:
        cluster.run("initdb", "-D", str(data / "pgdata"), "-U", "postgres", "--auth=trust")
        cluster.start()
        started = True
        asyncio.run(_create_database(cluster))
        upgrade_to_head(cluster.url)
        yield cluster
    finally:
        if started:
            with contextlib.suppress(RuntimeError):  # already stopped by a failing test
                cluster.stop("fast")
        shutil.rmtree(data, ignore_errors=True)


async def _create_database(cluster: Cluster) -> None:
    admin = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres", timeout=10
    )
    try:
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()


async def _client(settings: Settings, role: Role, regions: tuple[str, ...]) -> str:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            _, key = await create_client(session, f"faults-{uuid.uuid4().hex[:8]}", role, regions)
    finally:
        await engine.dispose()
    return key


@dataclass
class Outcome:
    number: str
    status: int
    code: str | None
    recipient_id: str | None
    started: float
    elapsed: float


async def _post(client: httpx.AsyncClient, number: str) -> Outcome:
    body = recipient(
        number,
        benefits=[benefit(), benefit(benefit_type="enterprise_pension", external_ref="P-1")],
    )
    started = time.monotonic()
    response = await client.post("/v1/recipients", json=body)
    elapsed = time.monotonic() - started
    document = response.json()
    return Outcome(
        number,
        response.status_code,
        document.get("code"),
        document.get("recipient_id"),
        started,
        elapsed,
    )


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
    key = await _client(settings, Role.COUNTY, ("1404",))
    outcomes: list[Outcome] = []
    stopped = asyncio.Event()
    stopped_at = 0.0

    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=with_lifespan_state(app, state), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as client:
            assert (await client.get("/readyz")).json()["ready"] is True

            async def worker() -> None:
                # Keep posting until a while after the database has gone.
                while not stopped.is_set() or time.monotonic() - stopped_at < 2:
                    outcomes.append(await _post(client, id_number()))

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
                attempt = await _post(client, id_number())
                outcomes.append(attempt)
                assert attempt.status in (201, 503), attempt
                if attempt.status == 201:
                    recovered = attempt
                    break
                await asyncio.sleep(0.2)
            assert recovered is not None, "the service did not recover after the database did"
            # Every pooled connection works again, not just one.
            again = await asyncio.gather(*(_post(client, id_number()) for _ in range(8)))
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


def _cluster_processes(cluster: Cluster) -> list[int]:
    """The postmaster of the throwaway cluster and every process it forked (backends, the
    checkpointer, ...): the whole server, as a hypervisor pausing its machine would see it."""
    postmaster = int((cluster.data / "pgdata" / "postmaster.pid").read_text().split()[0])
    processes = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces; the parent id is the second field after it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                processes.append(int(stat.parent.name))
    return processes


@contextlib.contextmanager
def _frozen(cluster: Cluster) -> Iterator[None]:
    """SIGSTOP the whole cluster: connections stay open and nothing answers, unlike a stop."""
    processes = _cluster_processes(cluster)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def test_a_frozen_postgres_answers_503_within_the_statement_timeout_then_recovers(
    cluster: Cluster, tmp_path: Path
) -> None:
    statement_timeout = 3.0
    settings = make_settings(
        tmp_path,
        cluster.url,
        db_connect_timeout_seconds=1,
        db_statement_timeout_seconds=statement_timeout,
        rate_limits={},
    )
    app = create_app(settings)
    key = await _client(settings, Role.COUNTY, ("1404",))
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=with_lifespan_state(app, state), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        ) as client:
            # Warm both pools: the engine's (writes) and the read pool (point eligibility).
            made = await asyncio.gather(*(_post(client, id_number()) for _ in range(4)))
            assert {o.status for o in made} == {201}
            recipient_id = made[0].recipient_id
            read = await client.get(f"/v1/recipients/{recipient_id}/eligibility")
            assert read.status_code == 200, read.text

            async def timed(call: Any) -> tuple[httpx.Response, float]:
                started = time.monotonic()
                response = await call
                return response, time.monotonic() - started

            with _frozen(cluster):
                answers = await asyncio.gather(
                    *(timed(client.post("/v1/recipients", json=recipient())) for _ in range(3)),
                    *(
                        timed(client.get(f"/v1/recipients/{recipient_id}/eligibility"))
                        for _ in range(3)
                    ),
                    timed(client.get("/readyz")),
                )
                # A request that starts while the database is still frozen, after the first
                # ones gave up: the pool's connections are then in doubt too.
                later = await asyncio.gather(
                    timed(client.post("/v1/recipients", json=recipient())),
                    timed(client.get(f"/v1/recipients/{recipient_id}/eligibility")),
                )
            # Each gives up within about the statement timeout (a timed-out statement used to
            # wait out asyncpg's cancellation and SQLAlchemy's 2 s graceful close on top).
            for response, elapsed in [*answers, *later]:
                path = response.request.url.path
                assert response.status_code == 503, (path, response.text)
                assert elapsed < statement_timeout + 1.5, (path, elapsed)
                if path != "/readyz":
                    assert response.json()["code"] == "database_unavailable"
                    assert response.headers["Retry-After"] == "5"

            # Thawed: the same app and pools serve again, without a restart.
            deadline = time.monotonic() + 20
            while (await _post(client, id_number())).status != 201:
                assert time.monotonic() < deadline, "no recovery after the database thawed"
                await asyncio.sleep(0.2)
            again = await asyncio.gather(*(_post(client, id_number()) for _ in range(6)))
            assert {o.status for o in again} == {201}
            reads = await asyncio.gather(
                *(client.get(f"/v1/recipients/{recipient_id}/eligibility") for _ in range(4))
            )
            assert {r.status_code for r in reads} == {200}
            assert (await client.get("/readyz")).json()["ready"] is True


async def test_a_transaction_caught_by_a_freeze_gives_up_within_the_statement_timeout(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The freeze comes mid-transaction: the request has begun and waits on a lock when the
    server stops answering. Rolling that connection back would wait out asyncpg's cancellation
    (one more statement timeout); the request's session drops it instead."""
    statement_timeout = 3.0
    settings = make_settings(
        tmp_path,
        cluster.url,
        db_connect_timeout_seconds=1,
        db_statement_timeout_seconds=statement_timeout,
        rate_limits={},
    )
    app = create_app(settings)
    key = await _client(settings, Role.COUNTY, ("1404",))
    locker = await asyncpg.connect(cluster.dsn, timeout=10)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=with_lifespan_state(app, state), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        ) as client:
            assert (await _post(client, id_number())).status == 201  # the caller is cached
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE recipients IN ACCESS EXCLUSIVE MODE")
            waiting = asyncio.create_task(_post(client, id_number()))
            await asyncio.sleep(0.5)  # it has begun and waits on the lock
            assert not waiting.done()
            with _frozen(cluster):
                outcome = await waiting
            assert outcome.status == 503 and outcome.code == "database_unavailable"
            assert outcome.elapsed < statement_timeout + 1.5, outcome.elapsed
            await transaction.rollback()
            deadline = time.monotonic() + 20
            while (await _post(client, id_number())).status != 201:
                assert time.monotonic() < deadline, "no recovery after the database thawed"
                await asyncio.sleep(0.2)
    await locker.close()
