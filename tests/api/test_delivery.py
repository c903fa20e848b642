"""The delivery worker against a real HTTP receiver on 127.0.0.1 that is down, fails, hangs
and recovers. The clock is injected so that backoff waits are skipped, not slept through;
the database commits for real (``committing_api``), as the worker's transactions need.

Done when: a webhook receiver down for several attempts gets every event once it is back,
each signed and verifiable."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.engine import SessionMaker, create_sessionmaker
from app.db.models import ApiClient, WebhookDelivery
from app.domain.enums import Role
from app.protection import IdProtector
from app.runtime import Runtime
from app.services.eligibility.policies import today
from app.services.notices.delivery import (
    DEFAULT_POLICY,
    RetryPolicy,
    deliver_due,
    event_body,
    run_worker,
    sign,
    verify_signature,
)
from app.services.notices.egress import ALLOW_ALL, EgressPolicy
from app.services.notices.egress import DEFAULT_POLICY as DEFAULT_EGRESS
from app.services.notices.outbox import EventType, emit
from app.services.suspension.daily import was_swept
from app.worker import Job, run_jobs
from tests.conftest import Api, Database
from tests.factories import recipient

T0 = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)
# The test receiver listens on 127.0.0.1, which the default egress policy refuses.
RECEIVER_REACHABLE = EgressPolicy(())
POLICY = RetryPolicy(max_attempts=8, base=timedelta(seconds=10), cap=timedelta(minutes=5))
SECRET_A = "secret-of-county-webhook-A"
SECRET_B = "secret-of-admin-webhook-B!"

# --- a real HTTP/1.1 receiver ---------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        return self.headers["x-certsvc-event-id"]


# What the receiver does with a request: answer with a status, or "hang" (never answer).
Behaviour = Callable[[Received], Awaitable[int | str]]


async def _ok(_request: Received) -> int:
    return 200


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server (one request per connection) that records what it got."""

    behaviour: Behaviour = _ok
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)  # answered 2xx
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)
    _news: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again on the same port after a stop)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def wait_until(self, condition: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait (at most ``seconds``) until a request makes ``condition`` true."""
        async with asyncio.timeout(seconds), self._news:
            await self._news.wait_for(condition)

    async def _record(self, bucket: list[Received], request: Received) -> None:
        bucket.append(request)
        async with self._news:
            self._news.notify_all()

    async def stop(self) -> None:
        """Stop listening: connections are refused until the next start."""
        assert self._server is not None
        self._server.close()
        for handler in list(self._handlers):
            handler.cancel()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Received(head[0].split(" ")[1], headers, body)
            await self._record(self.requests, request)
            answer = await self.behaviour(request)
            if answer == "hang":
                await asyncio.sleep(3600)  # until the client gives up and we are stopped
                return
            assert isinstance(answer, int)
            if 200 <= answer < 300:
                await self._record(self.accepted, request)
            writer.write(
                f"HTTP/1.1 {answer} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)


@pytest.fixture
async def receiver() -> Any:
    server = Receiver()
    await server.start()
    yield server
    if server._server is not None:
        await server.stop()


@pytest.fixture
async def http() -> Any:
    # Short timeouts keep the "receiver hangs" attempts fast.
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.5)) as client:
        yield client


@pytest.fixture(autouse=True)
def receivers_on_this_machine(committing_api: Api) -> None:
    """The receiver listens on loopback, which the API refuses at a webhook's creation: these
    tests are about the worker, whose own egress check each of them sets."""
    committing_api.fastapi.state.egress = ALLOW_ALL


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def sessions(database: Database) -> SessionMaker:
    return create_sessionmaker(database.engine)


@dataclass
class Worker:
    """The delivery worker's passes, on the tests' sessions, protector and HTTP client."""

    sessions: SessionMaker
    protector: IdProtector
    http: httpx.AsyncClient

    def deliver(
        self,
        clock: Clock,
        batch: int = 50,
        *,
        policy: RetryPolicy = POLICY,
        egress: EgressPolicy = RECEIVER_REACHABLE,
    ) -> Coroutine[Any, Any, int]:
        """One pass of `deliver_due`; returns how many deliveries were posted."""
        return deliver_due(
            self.sessions, self.protector, self.http, clock, batch, policy=policy, egress=egress
        )


@pytest.fixture
def worker(sessions: SessionMaker, protector: IdProtector, http: httpx.AsyncClient) -> Worker:
    return Worker(sessions, protector, http)


# --- helpers -------------------------------------------------------------------------------


async def _hook(
    client: httpx.AsyncClient, url: str, secret: str, events: list[str] | None = None
) -> str:
    response = await client.post(
        "/v1/webhooks", json={"url": url, "events": events or list(EventType), "secret": secret}
    )
    assert response.status_code == 201, response.text
    webhook_id: str = response.json()["webhook_id"]
    return webhook_id


async def _person(api: Api) -> tuple[httpx.AsyncClient, uuid.UUID]:
    county = await api.new_client(Role.COUNTY, ("1404",))
    response = await county.post("/v1/recipients", json=recipient())
    assert response.status_code == 201, response.text
    return county, uuid.UUID(response.json()["recipient_id"])


async def _emit(
    sessions: SessionMaker, recipient_id: uuid.UUID, event_type: EventType, at: datetime = T0
) -> None:
    async with sessions() as session, session.begin():
        await emit(
            session,
            event_type,
            recipient_id,
            None,
            "140402",
            {"status": event_type.value, "valid_through": "2026-12-31"},
            f"test:{uuid.uuid4()}",
            at,
        )


async def _subscribed(
    api: Api, sessions: SessionMaker, receiver: Receiver
) -> tuple[httpx.AsyncClient, uuid.UUID, str]:
    """At T0: a county client, its recipient, and its webhook (``/a``, secret A) with the
    recipient's suspension emitted for it."""
    api.set_now(T0)
    county, person = await _person(api)
    hook = await _hook(county, f"{receiver.base_url}/a", SECRET_A)
    await _emit(sessions, person, EventType.SUSPENDED)
    return county, person, hook


async def _change_subscriber(
    sessions: SessionMaker, county: httpx.AsyncClient, hook: str, **values: Any
) -> None:
    """Change the stored client that subscribed ``hook``, behind the API's back."""
    owner = (await county.get(f"/v1/webhooks/{hook}")).json()["created_by"]
    async with sessions() as session, session.begin():
        await session.execute(
            update(ApiClient).where(ApiClient.id == uuid.UUID(owner)).values(**values)
        )


async def _rows(sessions: SessionMaker) -> list[WebhookDelivery]:
    async with sessions() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


# --- the tests -----------------------------------------------------------------------------


async def test_a_receiver_down_for_several_attempts_gets_every_event_once_it_is_back(
    committing_api: Api, sessions: SessionMaker, worker: Worker, receiver: Receiver
) -> None:
    committing_api.set_now(T0)
    county, person = await _person(committing_api)
    admin = await committing_api.new_client(Role.ADMIN)
    hook_a = await _hook(county, f"{receiver.base_url}/a", SECRET_A)
    hook_b = await _hook(admin, f"{receiver.base_url}/b", SECRET_B, ["suspended", "certified"])
    await receiver.stop()  # down: nothing listens on the port
    # The worker is not running either while the events happen.
    for event_type in (EventType.SUSPENDED, EventType.RESUMED, EventType.CERTIFIED):
        await _emit(sessions, person, event_type)
    clock = Clock()

    async def attempt_round(expected_error: str, round_number: int) -> None:
        assert await worker.deliver(clock) == 5
        rows = await _rows(sessions)
        for row in rows:
            assert (row.status, row.attempts) == ("pending", round_number)
            assert row.last_error is not None and expected_error in row.last_error
            # base·2^(failures before) with 0.5..1.5 jitter: the waits grow round by round.
            wait = (row.next_attempt_at - clock.at).total_seconds()
            nominal = POLICY.base.total_seconds() * 2 ** (round_number - 1)
            assert 0.5 * nominal <= wait <= 1.5 * nominal, (round_number, wait)
        # Nothing is due before its backoff runs out ...
        assert await worker.deliver(clock) == 0
        # ... and everything is once the last of them has.
        clock.at = max(row.next_attempt_at for row in rows)

    await attempt_round("ConnectError", 1)  # not listening
    await receiver.start()

    async def fail(_request: Received) -> int:
        return 500

    receiver.behaviour = fail
    await attempt_round("HTTP 500", 2)
    assert {row.last_status_code for row in await _rows(sessions)} == {500}

    async def hang(_request: Received) -> str:
        return "hang"

    receiver.behaviour = hang
    await attempt_round("timeout", 3)
    assert receiver.accepted == []

    receiver.behaviour = _ok  # back
    assert await worker.deliver(clock) == 5
    rows = await _rows(sessions)
    assert {(row.status, row.attempts, row.delivered_at) for row in rows} == {
        ("delivered", 4, clock.at)
    }
    clock.at += timedelta(days=1)
    assert await worker.deliver(clock) == 0

    # Every event, once per webhook, each signed with that webhook's secret.
    received = {(request.path, request.event_id) for request in receiver.accepted}
    assert len(received) == len(receiver.accepted) == 5
    by_path: dict[str, list[str]] = {}
    for request in receiver.accepted:
        document = json.loads(request.body)
        by_path.setdefault(request.path, []).append(document["type"])
        secret, other = (SECRET_A, SECRET_B) if request.path == "/a" else (SECRET_B, SECRET_A)
        signature = request.headers["x-certsvc-signature"]
        assert verify_signature(secret, request.body, signature)
        assert not verify_signature(other, request.body, signature)
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-certsvc-event-id"] == document["event_id"]
        assert request.headers["x-certsvc-event-type"] == document["type"]
        assert int(request.headers["x-certsvc-timestamp"]) == int(clock.at.timestamp()) - 86400
        assert document["recipient_id"] == str(person)
        assert document["agency_code"] == "140402"
        assert document["benefit_id"] is None
        assert datetime.fromisoformat(document["created_at"]) == T0
        assert document["data"] == {"status": document["type"], "valid_through": "2026-12-31"}
    assert sorted(by_path["/a"]) == ["certified", "resumed", "suspended"]
    assert sorted(by_path["/b"]) == ["certified", "suspended"]
    # The same event carries the same id to both webhooks: one event, two deliveries.
    ids = {path: {r.event_id for r in receiver.accepted if r.path == path} for path in by_path}
    assert ids["/b"] < ids["/a"]

    page = (await county.get(f"/v1/webhooks/{hook_a}/deliveries")).json()
    assert [(item["status"], item["attempts"]) for item in page["items"]] == [("delivered", 4)] * 3
    assert (await admin.get(f"/v1/webhooks/{hook_b}/deliveries")).status_code == 200


async def test_a_delivery_past_its_budget_is_parked_until_an_admin_re_drives_it(
    committing_api: Api, sessions: SessionMaker, worker: Worker, receiver: Receiver
) -> None:
    committing_api.set_now(T0)
    county, person = await _person(committing_api)
    admin = await committing_api.new_client(Role.ADMIN)
    await _hook(county, f"{receiver.base_url}/a", SECRET_A)
    await _emit(sessions, person, EventType.SUSPENDED)
    policy = RetryPolicy(max_attempts=3, base=timedelta(seconds=10), cap=timedelta(seconds=30))

    async def unavailable(_request: Received) -> int:
        return 503

    receiver.behaviour = unavailable
    clock = Clock()
    for _ in range(3):
        assert await worker.deliver(clock, policy=policy) == 1
        clock.at += timedelta(minutes=1)
    (row,) = await _rows(sessions)
    assert (row.status, row.attempts, row.last_status_code) == ("parked", 3, 503)
    assert row.last_error == "HTTP 503"
    # Parked: never picked again by itself.
    clock.at += timedelta(days=30)
    assert await worker.deliver(clock, policy=policy) == 0
    delivery_id = str(row.id)

    # A re-drive against a receiver that is still failing: one attempt, parked again.
    committing_api.set_now(clock.at)
    retried = (await admin.post(f"/v1/webhooks/deliveries/{delivery_id}/retry")).json()
    assert (retried["status"], retried["attempts"]) == ("pending", 3)
    assert await worker.deliver(clock, policy=policy) == 1
    (row,) = await _rows(sessions)
    assert (row.status, row.attempts) == ("parked", 4)

    # Fixed: re-driven, delivered.
    receiver.behaviour = _ok
    clock.at += timedelta(hours=1)
    committing_api.set_now(clock.at)
    response = await admin.post(f"/v1/webhooks/deliveries/{delivery_id}/retry")
    assert response.status_code == 200, response.text
    assert await worker.deliver(clock, policy=policy) == 1
    (row,) = await _rows(sessions)
    assert (row.status, row.attempts, row.delivered_at) == ("delivered", 5, clock.at)
    (request,) = receiver.accepted
    assert verify_signature(SECRET_A, request.body, request.headers["x-certsvc-signature"])
    assert len(receiver.requests) == 5
    assert {r.body for r in receiver.requests} == {request.body}  # every attempt, same bytes


async def test_two_workers_at_once_never_post_the_same_delivery_twice(
    committing_api: Api,
    database: Database,
    sessions: SessionMaker,
    worker: Worker,
    receiver: Receiver,
) -> None:
    committing_api.set_now(T0)
    county, person = await _person(committing_api)
    admin = await committing_api.new_client(Role.ADMIN)
    await _hook(county, f"{receiver.base_url}/a", SECRET_A)
    await _hook(admin, f"{receiver.base_url}/b", SECRET_B)
    for _ in range(15):
        await _emit(sessions, person, EventType.DUE_SOON)

    async def slow(_request: Received) -> int:
        await asyncio.sleep(0.01)  # keeps posts in flight while the other worker claims
        return 200

    receiver.behaviour = slow
    clock = Clock()

    async def one_worker() -> int:
        # Each worker has its own sessions and connections, as a replica would.
        posted = 0
        while batch := await worker.deliver(clock, batch=4, policy=DEFAULT_POLICY):
            posted += batch
        return posted

    counts = await asyncio.gather(one_worker(), one_worker())
    assert sum(counts) == 30
    if database.backend == "postgresql":
        # SKIP LOCKED lets both work side by side; SQLite serializes the claims, so there one
        # worker may legitimately take every batch before the other gets the lock.
        assert min(counts) > 0
    assert len(receiver.requests) == 30
    assert len({(r.path, r.event_id) for r in receiver.requests}) == 30
    assert {(row.status, row.attempts) for row in await _rows(sessions)} == {("delivered", 1)}


async def test_a_worker_that_dies_mid_post_loses_nothing(
    committing_api: Api, sessions: SessionMaker, worker: Worker, receiver: Receiver
) -> None:
    committing_api.set_now(T0)
    county, person = await _person(committing_api)
    await _hook(county, f"{receiver.base_url}/a", SECRET_A)
    await _emit(sessions, person, EventType.STOPPED)

    async def hang(_request: Received) -> str:
        return "hang"

    receiver.behaviour = hang
    clock = Clock()
    killed = asyncio.create_task(worker.deliver(clock))
    await receiver.wait_until(lambda: len(receiver.requests) == 1)
    killed.cancel()  # the worker dies with the POST in flight: no outcome is recorded
    with pytest.raises(asyncio.CancelledError):
        await killed
    (row,) = await _rows(sessions)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at == T0 + POLICY.lease  # leased: hidden from other replicas

    receiver.behaviour = _ok
    assert await worker.deliver(clock) == 0
    clock.at += POLICY.lease
    assert await worker.deliver(clock) == 1
    (row,) = await _rows(sessions)
    assert row.status == "delivered"
    # At least once: the receiver saw the event twice and keeps it once, by its id.
    assert len(receiver.requests) == 2 and len({r.event_id for r in receiver.requests}) == 1


async def test_a_webhook_deleted_while_its_post_fails_is_not_rescheduled(
    committing_api: Api, sessions: SessionMaker, worker: Worker, receiver: Receiver
) -> None:
    county, _, hook = await _subscribed(committing_api, sessions, receiver)
    release = asyncio.Event()

    async def fail_later(_request: Received) -> int:
        await release.wait()
        return 500

    receiver.behaviour = fail_later
    clock = Clock()
    in_flight = asyncio.create_task(worker.deliver(clock))
    await receiver.wait_until(lambda: len(receiver.requests) == 1)
    assert (await county.delete(f"/v1/webhooks/{hook}")).status_code == 204
    release.set()
    assert await in_flight == 1
    (row,) = await _rows(sessions)
    assert (row.status, row.attempts) == ("cancelled", 0)
    clock.at += timedelta(days=1)
    assert await worker.deliver(clock) == 0


async def test_a_receiver_on_a_refused_address_is_never_contacted(
    committing_api: Api, sessions: SessionMaker, worker: Worker, receiver: Receiver
) -> None:
    """The default egress policy refuses loopback: by IP literal and by a name resolving to it."""
    committing_api.set_now(T0)
    county, person = await _person(committing_api)
    await _hook(county, f"{receiver.base_url}/by-address", SECRET_A)
    await _hook(county, f"http://localhost:{receiver.port}/by-name", SECRET_B)
    await _emit(sessions, person, EventType.SUSPENDED)
    assert await worker.deliver(Clock(), egress=DEFAULT_EGRESS) == 2
    rows = await _rows(sessions)
    assert {row.status for row in rows} == {"pending"}  # retried later, like any failure
    errors = {row.last_error for row in rows}
    assert "the receiver's address 127.0.0.1 is in a refused network" in errors
    # localhost may resolve to 127.0.0.1 or ::1 depending on the machine's hosts file.
    assert errors & {
        "the receiver resolves to 127.0.0.1, in a refused network",
        "the receiver resolves to ::1, in a refused network",
    }
    assert receiver.requests == []


async def test_deliveries_of_a_revoked_client_are_cancelled_not_sent(
    committing_api: Api, sessions: SessionMaker, worker: Worker, receiver: Receiver
) -> None:
    county, _, hook = await _subscribed(committing_api, sessions, receiver)
    await _change_subscriber(sessions, county, hook, revoked_at=T0)
    assert await worker.deliver(Clock()) == 0
    (row,) = await _rows(sessions)
    assert (row.status, row.last_error) == (
        "cancelled",
        "cancelled: the subscribing client was revoked",
    )
    assert receiver.requests == []


async def test_deliveries_outside_the_clients_current_regions_are_cancelled(
    committing_api: Api, sessions: SessionMaker, worker: Worker, receiver: Receiver
) -> None:
    county, person, hook = await _subscribed(committing_api, sessions, receiver)
    await _emit(sessions, person, EventType.RESUMED)
    # The client is moved to another county after the first event was written.
    await _change_subscriber(sessions, county, hook, regions=["1401"])
    assert await worker.deliver(Clock()) == 0
    assert {(row.status, row.last_error) for row in await _rows(sessions)} == {
        ("cancelled", "cancelled: outside the subscribing client's regions")
    }
    assert receiver.requests == []


async def test_the_worker_process_delivers_what_was_emitted_while_it_was_down(
    committing_api: Api,
    database: Database,
    sessions: SessionMaker,
    protector: IdProtector,
    receiver: Receiver,
) -> None:
    county, person = await _person(committing_api)
    await _hook(county, f"{receiver.base_url}/a", SECRET_A)
    now = utcnow()
    await _emit(sessions, person, EventType.CERTIFIED, now)
    await _emit(sessions, person, EventType.DUE_SOON, now)

    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(
            sessions,
            protector,
            database.settings.model_copy(
                update={"webhook_refused_networks": [], "webhook_refuse_own_addresses": False}
            ),
            stop,
            poll_interval=0.05,
        )
    )
    try:
        await receiver.wait_until(lambda: len(receiver.accepted) == 2)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    assert {json.loads(r.body)["type"] for r in receiver.accepted} == {"certified", "due_soon"}
    assert all(
        verify_signature(SECRET_A, r.body, r.headers["x-certsvc-signature"])
        for r in receiver.accepted
    )
    assert {row.status for row in await _rows(sessions)} == {"delivered"}


async def test_a_certsvc_worker_delivers_the_events_its_own_sweep_announces(
    committing_api: Api,
    database: Database,
    sessions: SessionMaker,
    protector: IdProtector,
    receiver: Receiver,
) -> None:
    """`certsvc worker`'s jobs in one loop (issue 18): its daily sweep (due from 00:00) finds
    the recipient registered at T0 and never certified suspended today, and its delivery job
    posts that event, beside the one emitted before it started; one stop ends every job."""
    await _subscribed(committing_api, sessions, receiver)
    settings = database.settings.model_copy(
        update={
            "webhook_refused_networks": [],
            "webhook_refuse_own_addresses": False,
            "sweep_at": time(0, 0),
        }
    )
    stop = asyncio.Event()
    async with Runtime.open(settings, engine=database.engine, protector=protector) as runtime:
        worker = asyncio.create_task(run_jobs(runtime, set(Job), stop, poll_interval=0.05))
        try:
            await receiver.wait_until(lambda: len(receiver.accepted) == 2, seconds=20)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 10)
    bodies = [json.loads(request.body) for request in receiver.accepted]
    assert [body["type"] for body in bodies] == ["suspended", "suspended"]
    assert sorted(str(body["data"].get("on")) for body in bodies) == sorted(
        ["None", today().isoformat()]
    )
    assert await was_swept(sessions, today())
    assert {row.status for row in await _rows(sessions)} == {"delivered"}


def test_a_signature_verifies_only_the_exact_body_with_the_right_secret() -> None:
    body = b'{"event_id":"e1","type":"suspended"}'
    header = sign(SECRET_A, body)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify_signature(SECRET_A, body, header)
    assert not verify_signature(SECRET_B, body, header)
    assert not verify_signature(SECRET_A, body + b" ", header)
    assert not verify_signature(SECRET_A, body, header.removeprefix("sha256="))
    assert not verify_signature(SECRET_A, body, "sha256=" + "0" * 64)
    assert not verify_signature(SECRET_A, body, "sha256=not-hex")
    assert not verify_signature(SECRET_A, body, "")


def test_the_body_is_stable_json_of_the_event() -> None:
    from app.db.models import OutboxEvent

    event = OutboxEvent(
        id=uuid.UUID(int=1),
        event_type="stopped",
        recipient_id=uuid.UUID(int=2),
        benefit_id=uuid.UUID(int=3),
        agency_code="140402",
        payload={"reason": "死亡"},
        dedupe_key="k",
        created_at=T0,
    )
    body = event_body(event)
    assert body == event_body(event)
    assert json.loads(body) == {
        "event_id": str(uuid.UUID(int=1)),
        "type": "stopped",
        "created_at": "2026-06-10T02:00:00+00:00",
        "recipient_id": str(uuid.UUID(int=2)),
        "benefit_id": str(uuid.UUID(int=3)),
        "agency_code": "140402",
        "data": {"reason": "死亡"},
    }
