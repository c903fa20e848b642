"""ID-key rotation through the API and ``certsvc rekey``, on both databases.

Key set A is the suite's usual keys, configured without ids (a deployment from before rotation
existed); "rotated" makes B current and keeps A as previous; "retired" is B alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.db.engine import SessionMaker, create_sessionmaker
from app.db.models import Recipient, Webhook
from app.deps import get_session
from app.domain.enums import Role
from app.main import create_app
from app.protection import IdKey, IdProtector, load_id_protector
from app.services.certifications.imports import import_certifications
from app.services.recipients.id_lookup import (
    find_recipient_id,
    find_recipient_ids,
    rekey_registered,
)
from app.services.recipients.rekey import RekeySummary, rekey
from app.settings import Settings
from tests.api.test_import import _face_row, _write
from tests.conftest import (
    ENCRYPTION_KEY,
    HMAC_KEY,
    Api,
    Database,
    _client_factory,
    empty_tables,
    make_settings,
    with_lifespan_state,
)
from tests.factories import face, id_number, recipient

NOW = "2026-06-10T10:00:00+08:00"
HMAC_B = "i" * 43 + "="
ENCRYPTION_B = "f" * 43 + "="


def original(database: Database) -> Settings:
    return database.settings


def rotated(database: Database) -> Settings:
    return make_settings(
        database.settings.data_dir,
        database.url,
        id_hmac_key=HMAC_B,
        id_hmac_key_id="h2",
        id_hmac_previous_keys=f"h1:{HMAC_KEY}",
        id_encryption_key=ENCRYPTION_B,
        id_encryption_key_id="e2",
        id_encryption_previous_keys=f"e1:{ENCRYPTION_KEY}",
    )


def retired(database: Database) -> Settings:
    return make_settings(
        database.settings.data_dir,
        database.url,
        id_hmac_key=HMAC_B,
        id_hmac_key_id="h2",
        id_encryption_key=ENCRYPTION_B,
        id_encryption_key_id="e2",
    )


def savepoint_sessions(connection: AsyncConnection) -> SessionMaker:
    """Sessions whose transactions are savepoints of the test's rolled-back transaction."""
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@asynccontextmanager
async def serving(
    settings: Settings, database: Database, connection: AsyncConnection | None = None
) -> AsyncIterator[Api]:
    """The app under ``settings``: inside the test's transaction, or committing for real."""
    app = create_app(settings, engine=database.engine)
    if connection is not None:
        sessions = savepoint_sessions(connection)

        async def session_override() -> AsyncIterator[AsyncSession]:
            async with sessions() as session, session.begin():
                yield session

        app.dependency_overrides[get_session] = session_override
    else:
        sessions = create_sessionmaker(database.engine)
    opened: list[httpx.AsyncClient] = []
    async with app.router.lifespan_context(app) as state:
        asgi = with_lifespan_state(app, state)
        api = Api(asgi, await _client_factory(asgi, sessions, opened), app)
        api.set_now(NOW)
        yield api
        for client in opened:
            await client.aclose()


def same_client(api: Api, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same API client (same key) talking to another app, as after a redeploy."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app), base_url="http://test", headers=client.headers
    )


async def register(county: httpx.AsyncClient, number: str, expected: int = 201) -> str:
    response = await county.post("/v1/recipients", json=recipient(number))
    assert response.status_code == expected, response.text
    recipient_id: str = response.json()["recipient_id"]
    return recipient_id


async def look_up(county: httpx.AsyncClient, number: str) -> str:
    response = await county.post("/v1/recipients/lookup", json={"id_number": number})
    assert response.status_code == 200, response.text
    recipient_id: str = response.json()["recipient_id"]
    return recipient_id


def face_by_number(number: str, source_ref: str, **details: Any) -> dict[str, Any]:
    body = face("unused", "2026-06-09T09:00:00+08:00", source_ref, **details)
    del body["recipient_id"]
    return {**body, "id_number": number}


async def batch_check(payment: httpx.AsyncClient, numbers: list[str]) -> list[str | None]:
    keys = [{"id_number": number} for number in numbers]
    response = await payment.post(
        "/v1/eligibility/check", json={"month": "2026-06", "recipients": keys}
    )
    assert response.status_code == 200, response.text
    return [result["recipient_id"] for result in response.json()["results"]]


async def stored_rows(sessions: SessionMaker) -> list[tuple[uuid.UUID, bytes, bytes]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Recipient.id, Recipient.id_digest, Recipient.id_ciphertext)
        )
        return [(rid, bytes(digest), bytes(blob)) for rid, digest, blob in rows]


async def assert_all_current(sessions: SessionMaker, protector: IdProtector) -> None:
    """Every row opens with ``protector`` alone and is digested and sealed with its keys."""
    for _, digest, blob in await stored_rows(sessions):
        assert digest == protector.digest(protector.decrypt(blob))
        assert protector.sealed_with_current_key(blob)


async def test_look_ups_registrations_and_replays_work_before_during_and_after_a_rotation(
    database: Database, connection: AsyncConnection
) -> None:
    sessions = savepoint_sessions(connection)
    kept, touched, fresh = id_number(), id_number(), id_number()
    async with serving(original(database), database, connection) as before:
        county = await before.new_client(Role.COUNTY, ("1404",))
        mobile = await before.new_client(Role.MOBILE)
        ids = {number: await register(county, number) for number in (kept, touched)}
        first = await mobile.post("/v1/certifications", json=face_by_number(kept, "msx-a"))
        assert first.status_code == 201, first.text

    async with serving(rotated(database), database, connection) as during:
        county = await during.new_client(Role.COUNTY, ("1404",))
        payment = await during.new_client(Role.PAYMENT)
        mobile_again = same_client(during, mobile)
        assert await look_up(county, kept) == ids[kept]
        # A replay recorded under A is still a replay, and a changed body still a conflict.
        replay = await mobile_again.post("/v1/certifications", json=face_by_number(kept, "msx-a"))
        assert replay.status_code == 200, replay.text
        assert replay.json()["certification_id"] == first.json()["certification_id"]
        changed = face_by_number(kept, "msx-a", similarity=0.95)
        conflict = await mobile_again.post("/v1/certifications", json=changed)
        assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
        # Registering a person known under A updates that person (and moves it to B).
        assert await register(county, touched, expected=200) == ids[touched]
        ids[fresh] = await register(county, fresh)
        second = await mobile_again.post("/v1/certifications", json=face_by_number(kept, "msx-b"))
        assert second.status_code == 201, second.text
        assert await batch_check(payment, [kept, touched, fresh]) == [
            ids[kept],
            ids[touched],
            ids[fresh],
        ]
        await mobile_again.aclose()

    summary = await rekey(sessions, load_id_protector(rotated(database)))
    assert (summary.recipients, summary.recipients_rewritten) == (3, 1)  # kept only
    assert not summary.previous_keys_needed
    again = await rekey(sessions, load_id_protector(rotated(database)))
    assert (again.recipients, again.recipients_rewritten) == (3, 0)

    async with serving(retired(database), database, connection) as after:
        county = await after.new_client(Role.COUNTY, ("1404",))
        payment = await after.new_client(Role.PAYMENT)
        mobile_again = same_client(after, mobile)
        assert [await look_up(county, n) for n in (kept, touched, fresh)] == list(ids.values())
        assert await register(county, kept, expected=200) == ids[kept]
        assert await batch_check(payment, [kept, touched, fresh]) == list(ids.values())
        replay = await mobile_again.post("/v1/certifications", json=face_by_number(kept, "msx-b"))
        assert replay.status_code == 200, replay.text
        # What was digested under A alone cannot be recognized once A is gone: the reason to
        # keep a previous HMAC key through the clients' retry window (docs/security.md).
        late = await mobile_again.post("/v1/certifications", json=face_by_number(kept, "msx-a"))
        assert late.status_code == 409
        await mobile_again.aclose()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Recipient)) == 3
    await assert_all_current(sessions, load_id_protector(retired(database)))


async def test_rekey_moves_rows_and_webhook_secrets_to_the_current_keys_so_the_old_can_go(
    database: Database, connection: AsyncConnection
) -> None:
    sessions = savepoint_sessions(connection)
    numbers = [id_number() for _ in range(3)]
    async with serving(original(database), database, connection) as before:
        county = await before.new_client(Role.COUNTY, ("1404",))
        ids = [await register(county, number) for number in numbers]
        hook = {
            "url": "https://county.example.cn/hook",
            "events": ["suspended"],
            "secret": "s" * 24,
        }
        assert (await county.post("/v1/webhooks", json=hook)).status_code == 201
    untouched = await stored_rows(sessions)

    async with serving(rotated(database), database, connection) as during:
        payment = await during.new_client(Role.PAYMENT)
        assert await batch_check(payment, numbers) == ids  # found under the previous key
    protector = load_id_protector(rotated(database))
    checked = await rekey(sessions, protector, check_only=True)
    assert (checked.recipients, checked.recipients_rewritten) == (3, 3)
    assert (checked.webhooks, checked.webhooks_rewritten) == (1, 1)
    assert await stored_rows(sessions) == untouched  # a check writes nothing

    done = await rekey(sessions, protector, batch_size=2)
    assert (done.recipients, done.recipients_rewritten, done.webhooks_rewritten) == (3, 3, 1)
    assert not done.previous_keys_needed and done.last_id == uuid.UUID(max(ids))
    after = load_id_protector(retired(database))
    await assert_all_current(sessions, after)
    async with sessions() as session:
        secret = await session.scalar(select(Webhook.secret_ciphertext))
        assert secret is not None and after.decrypt(bytes(secret)) == "s" * 24
        found = await find_recipient_ids(session, after, numbers)
    assert [str(found[number]) for number in numbers] == ids
    async with serving(retired(database), database, connection) as later:
        payment = await later.new_client(Role.PAYMENT)
        assert await batch_check(payment, numbers) == ids
    # Nothing left: a second run and a check rewrite nothing.
    assert (await rekey(sessions, protector)).recipients_rewritten == 0
    final = await rekey(sessions, after, check_only=True)
    assert (final.recipients_rewritten, final.webhooks_rewritten) == (0, 0)


async def test_a_rekey_that_crashes_mid_way_resumes_where_it_stopped(
    database: Database, connection: AsyncConnection
) -> None:
    sessions = savepoint_sessions(connection)
    async with serving(original(database), database, connection) as before:
        county = await before.new_client(Role.COUNTY, ("1404",))
        for _ in range(5):
            await register(county, id_number())
    protector = load_id_protector(rotated(database))
    seen: list[RekeySummary] = []

    def crash_after_first_batch(summary: RekeySummary) -> None:
        seen.append(summary)
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        await rekey(sessions, protector, batch_size=2, progress=crash_after_first_batch)
    rows = await stored_rows(sessions)
    moved = [rid for rid, _, blob in rows if protector.sealed_with_current_key(blob)]
    assert len(moved) == 2  # the committed first batch

    resumed = await rekey(sessions, protector, batch_size=2, after=seen[0].last_id)
    assert (resumed.recipients, resumed.recipients_rewritten) == (3, 3)
    rerun = await rekey(sessions, protector, batch_size=2)  # or simply run it all again
    assert (rerun.recipients, rerun.recipients_rewritten) == (5, 0)
    await assert_all_current(sessions, load_id_protector(retired(database)))


async def test_rekey_reports_what_it_cannot_read_and_people_registered_twice(
    database: Database, connection: AsyncConnection
) -> None:
    """A key removed too early, or a replica that never knew A registering a person anew,
    are reported with the recipient ids; the run still does the rest."""
    sessions = savepoint_sessions(connection)
    twice, lost, fine = id_number(), id_number(), id_number()
    async with serving(original(database), database, connection) as before:
        county = await before.new_client(Role.COUNTY, ("1404",))
        first_of_twice = await register(county, twice)
        lost_id = await register(county, lost)
        await register(county, fine)
    async with serving(retired(database), database, connection) as unaware:
        county = await unaware.new_client(Role.COUNTY, ("1404",))
        second_of_twice = await register(county, twice)  # B alone cannot see the A row
    assert second_of_twice != first_of_twice
    foreign = IdProtector((IdKey(None, b"x" * 32),), (IdKey("e0", b"y" * 32),))
    async with sessions() as session, session.begin():
        await session.execute(
            update(Recipient)
            .where(Recipient.id == uuid.UUID(lost_id))
            .values(id_ciphertext=foreign.encrypt(lost))
        )

    summary = await rekey(sessions, load_id_protector(rotated(database)))
    assert summary.unreadable == [uuid.UUID(lost_id)]
    assert summary.duplicates == [uuid.UUID(first_of_twice)]
    assert (summary.recipients, summary.recipients_rewritten) == (4, 1)  # fine
    assert summary.previous_keys_needed


async def test_a_registration_moves_a_row_of_a_previous_key_instead_of_duplicating_it(
    database: Database, session: AsyncSession, connection: AsyncConnection
) -> None:
    number, other = id_number(), id_number()
    async with serving(original(database), database, connection) as before:
        county = await before.new_client(Role.COUNTY, ("1404",))
        registered = uuid.UUID(await register(county, number))
    during, after = load_id_protector(rotated(database)), load_id_protector(retired(database))
    assert await find_recipient_id(session, after, number) is None
    assert await find_recipient_id(session, during, number) == registered

    await rekey_registered(session, during, number)
    await rekey_registered(session, during, number)  # nothing more to do
    await rekey_registered(session, during, other)  # not registered: nothing at all
    assert await find_recipient_id(session, after, number) == registered
    assert await find_recipient_ids(session, during, [number, other]) == {number: registered}
    blob = await session.scalar(select(Recipient.id_ciphertext).where(Recipient.id == registered))
    assert blob is not None and after.decrypt(bytes(blob)) == number


async def test_a_stop_report_replayed_after_a_rotation_is_a_replay(
    database: Database, connection: AsyncConnection
) -> None:
    number = id_number()
    report = {
        "id_number": number,
        "reason": "death",
        "occurred_on": "2026-06-01",
        "reported_by": "family",
        "source_ref": "death-1",
    }
    async with serving(original(database), database, connection) as before:
        county = await before.new_client(Role.COUNTY, ("1404",))
        await register(county, number)
        first = await county.post("/v1/stop-reports", json=report)
        assert first.status_code == 201, first.text
    async with serving(rotated(database), database, connection) as during:
        county_again = same_client(during, county)
        again = await county_again.post("/v1/stop-reports", json=report)
        assert again.status_code == 200, again.text
        assert again.json()["report_id"] == first.json()["report_id"]
        changed = await county_again.post(
            "/v1/stop-reports", json={**report, "occurred_on": "2026-06-02"}
        )
        assert (changed.status_code, changed.json()["code"]) == (409, "idempotency_conflict")
        await county_again.aclose()


async def test_the_legacy_import_finds_recipients_registered_under_a_previous_key(
    database: Database, connection: AsyncConnection, tmp_path: Path
) -> None:
    number = id_number()
    async with serving(original(database), database, connection) as before:
        await register(await before.new_client(Role.COUNTY, ("1404",)), number)
    source = tmp_path / "history.csv"
    _write(source, [_face_row(number, "2024-03-15T09:30:00+08:00", "platform-9")])
    summary = await import_certifications(
        savepoint_sessions(connection),
        load_id_protector(rotated(database)),
        source,
        tmp_path / "rejects.csv",
    )
    assert (summary.loaded, summary.rejected) == (1, 0)


async def test_rekey_while_the_api_registers_and_a_second_rekey_runs(database: Database) -> None:
    """Real commits, real concurrency: two rekey runs and new registrations at once."""
    sessions = create_sessionmaker(database.engine)
    try:
        old_numbers = [id_number() for _ in range(20)]
        new_numbers = [id_number() for _ in range(10)]
        async with serving(original(database), database) as before:
            county = await before.new_client(Role.COUNTY, ("1404",))
            for number in old_numbers:
                await register(county, number)
        protector = load_id_protector(rotated(database))
        async with serving(rotated(database), database) as during:
            county = await during.new_client(Role.COUNTY, ("1404",))
            (first, second), _ = await asyncio.gather(
                asyncio.gather(
                    rekey(sessions, protector, batch_size=3),
                    rekey(sessions, protector, batch_size=4),
                ),
                asyncio.gather(*(register(county, number) for number in new_numbers)),
            )
        assert first.recipients >= 20 and second.recipients >= 20
        assert 20 <= first.recipients_rewritten + second.recipients_rewritten <= 40
        after = load_id_protector(retired(database))
        await assert_all_current(sessions, after)
        async with sessions() as session:
            found = await find_recipient_ids(session, after, old_numbers + new_numbers)
            assert await session.scalar(select(func.count()).select_from(Recipient)) == 30
        assert len(set(found.values())) == 30
    finally:
        await empty_tables(database.engine)


async def test_replicas_with_different_current_keys_register_a_person_once(
    database: Database,
) -> None:
    """During a rolling switch, one replica writes with A and another with B (each knowing
    both): racing registrations of one new person still make one recipient."""
    a_current = make_settings(
        database.settings.data_dir,
        database.url,
        id_hmac_key_id="h1",
        id_hmac_previous_keys=f"h2:{HMAC_B}",
    )
    try:
        numbers = [id_number() for _ in range(8)]
        async with (
            serving(a_current, database) as left,
            serving(rotated(database), database) as right,
        ):
            counties = [await app.new_client(Role.COUNTY, ("1404",)) for app in (left, right)]
            answers = await asyncio.gather(
                *(
                    counties[side].post("/v1/recipients", json=recipient(number))
                    for number in numbers
                    for side in (0, 1)
                )
            )
        assert sorted(answer.status_code for answer in answers) == [200] * 8 + [201] * 8
        sessions = create_sessionmaker(database.engine)
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Recipient)) == 8
    finally:
        await empty_tables(database.engine)
