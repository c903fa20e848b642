"""Names and phones sealed at rest (app/services/recipients/personal_data.py), on both
databases: the rows hold no plaintext, the API still answers them to the roles that read them,
and ``rekey`` re-seals them under a new key."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import SessionMaker
from app.db.models import HomeVisitRequest, Recipient
from app.domain.enums import Role
from app.protection import IdProtector, load_id_protector
from app.services.recipients.personal_data import (
    CONTACT_PHONE,
    RECIPIENT_NAME,
    RECIPIENT_PHONE,
    seal,
)
from app.services.recipients.rekey import _RECIPIENT_COLUMNS, _rewrite_personal, rekey
from tests.api.test_key_rotation import original, retired, rotated, savepoint_sessions, serving
from tests.conftest import Api, Database
from tests.factories import recipient

# Values no other test stores, so that a scan of the SQLite file can only find them here.
NAME, PHONE, CONTACT = "隐私测试欧阳秀芳", "13912340001", "13712340002"
REQUESTS = "/v1/home-visit-requests"


async def register(county: httpx.AsyncClient, expected: int = 201, **fields: Any) -> str:
    response = await county.post("/v1/recipients", json=recipient(**fields))
    assert response.status_code == expected, response.text
    recipient_id: str = response.json()["recipient_id"]
    return recipient_id


async def open_request(county: httpx.AsyncClient, rid: str, phone: str | None) -> str:
    body = {"recipient_id": rid, "requested_by": "family", "reason": "elderly"}
    response = await county.post(REQUESTS, json={**body, "contact_phone": phone})
    assert response.status_code == 201, response.text
    request_id: str = response.json()["request_id"]
    return request_id


async def sealed(sessions: SessionMaker, rid: str) -> tuple[bytes, bytes | None]:
    async with sessions() as session:
        row = (
            await session.execute(
                select(Recipient.name_ciphertext, Recipient.phone_ciphertext).where(
                    Recipient.id == uuid.UUID(rid)
                )
            )
        ).one()
    return bytes(row[0]), None if row[1] is None else bytes(row[1])


async def test_names_and_phones_are_stored_only_sealed_and_read_back_through_the_api(
    committing_api: Api, database: Database, protector: IdProtector
) -> None:
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    rid = await register(county, name=NAME, phone=PHONE)
    request_id = await open_request(county, rid, CONTACT)

    async with database.engine.connect() as connection:
        if database.backend == "sqlite":
            path = database.url.split("///", 1)[1]
            stored = await asyncio.to_thread(_read_files, path, path + "-wal")
            for value in (NAME, PHONE, CONTACT):
                assert value.encode() not in stored
        else:
            rows = await connection.execute(
                text(
                    "SELECT r::text FROM recipients r UNION ALL "
                    "SELECT h::text FROM home_visit_requests h"
                )
            )
            dumped = "\n".join(row[0] for row in rows)
            assert rid in dumped and request_id in dumped
            for value in (NAME, PHONE, CONTACT):
                assert value not in dumped

    person = (await county.get(f"/v1/recipients/{rid}")).json()
    assert (person["name"], person["phone"]) == (NAME, PHONE)
    request = (await county.get(f"{REQUESTS}/{request_id}")).json()
    assert request["contact_phone"] == CONTACT


async def test_an_unchanged_registration_keeps_its_ciphertexts_and_a_change_reseals(
    api: Api, connection: AsyncConnection
) -> None:
    sessions = savepoint_sessions(connection)
    county = await api.new_client(Role.COUNTY, ("1404",))
    body = recipient(name=NAME, phone=PHONE)
    rid = await register(county, **body)
    first = await sealed(sessions, rid)

    assert await register(county, expected=200, **body) == rid
    assert await sealed(sessions, rid) == first  # nothing rewritten

    renamed = await county.post("/v1/recipients", json={**body, "name": "欧阳秀芳"})
    assert renamed.json()["name"] == "欧阳秀芳"
    name, phone = await sealed(sessions, rid)
    assert name != first[0] and phone == first[1]

    cleared = await county.patch(f"/v1/recipients/{rid}", json={"phone": None})
    assert cleared.json()["phone"] is None
    assert (await sealed(sessions, rid))[1] is None
    changed = await county.patch(f"/v1/recipients/{rid}", json={"phone": "13912340009"})
    assert changed.json()["phone"] == "13912340009"
    read = (await county.get(f"/v1/recipients/{rid}")).json()
    assert (read["name"], read["phone"]) == ("欧阳秀芳", "13912340009")


async def test_rekey_reseals_names_and_phones_which_then_open_with_the_new_key_alone(
    database: Database, connection: AsyncConnection
) -> None:
    sessions = savepoint_sessions(connection)
    async with serving(original(database), database, connection) as before:
        county = await before.new_client(Role.COUNTY, ("1404",))
        rid = await register(county, name=NAME, phone=PHONE)
        request_id = await open_request(county, rid, CONTACT)
        silent = await register(county, name="隐私测试无电话", phone=None)

    # Before the re-key, the new key alone cannot read them: each is listed, none opened.
    early = await rekey(sessions, load_id_protector(retired(database)), check_only=True)
    assert set(early.personal_unreadable) == {
        (RECIPIENT_NAME, uuid.UUID(rid)),
        (RECIPIENT_PHONE, uuid.UUID(rid)),
        (RECIPIENT_NAME, uuid.UUID(silent)),
        (CONTACT_PHONE, uuid.UUID(request_id)),
    }
    assert early.previous_keys_needed

    during = load_id_protector(rotated(database))
    under_a = await sealed(sessions, rid)
    check = await rekey(sessions, during, check_only=True)
    assert (check.personal_rewritten, check.home_visit_requests) == (4, 1)
    assert await sealed(sessions, rid) == under_a  # the check wrote nothing
    summary = await rekey(sessions, during)
    assert (summary.personal_rewritten, summary.personal_unreadable) == (4, [])
    assert (await rekey(sessions, during)).personal_rewritten == 0  # idempotent

    after = load_id_protector(retired(database))
    for blob in (*await sealed(sessions, rid), (await sealed(sessions, silent))[0]):
        assert blob is not None and after.sealed_with_current_key(blob)
    assert not (await rekey(sessions, after, check_only=True)).previous_keys_needed
    async with serving(retired(database), database, connection) as later:
        county = await later.new_client(Role.COUNTY, ("1404",))
        person = (await county.get(f"/v1/recipients/{rid}")).json()
        assert (person["name"], person["phone"]) == (NAME, PHONE)
        request = (await county.get(f"{REQUESTS}/{request_id}")).json()
        assert request["contact_phone"] == CONTACT


async def test_a_phone_changed_after_rekey_read_it_is_not_overwritten(
    api: Api, connection: AsyncConnection, protector: IdProtector
) -> None:
    sessions = savepoint_sessions(connection)
    county = await api.new_client(Role.COUNTY, ("1404",))
    rid = await register(county, name=NAME, phone=PHONE)
    _, read = await sealed(sessions, rid)
    # A PATCH lands between the job's read and its write.
    patched = await county.patch(f"/v1/recipients/{rid}", json={"phone": "13912340005"})
    assert patched.status_code == 200
    resealed = seal(protector, RECIPIENT_PHONE, uuid.UUID(rid), PHONE)
    planned = {RECIPIENT_PHONE: [{"b_id": uuid.UUID(rid), "b_old": read, "b_new": resealed}]}
    async with sessions() as session, session.begin():
        await _rewrite_personal(session, _RECIPIENT_COLUMNS, planned)
    assert (await county.get(f"/v1/recipients/{rid}")).json()["phone"] == "13912340005"


async def test_home_visit_contact_phones_are_sealed_per_request(
    api: Api, connection: AsyncConnection, protector: IdProtector
) -> None:
    sessions = savepoint_sessions(connection)
    county = await api.new_client(Role.COUNTY, ("1404",))
    rid = await register(county)
    request_id = await open_request(county, rid, CONTACT)
    async with sessions() as session:
        blob = await session.scalar(
            select(HomeVisitRequest.contact_phone_ciphertext).where(
                HomeVisitRequest.id == uuid.UUID(request_id)
            )
        )
    assert blob is not None and CONTACT.encode() not in bytes(blob)
    listed = await county.get(REQUESTS, params={"agency_code": "1404"})
    assert [item["contact_phone"] for item in listed.json()["items"]] == [CONTACT]


def _read_files(*paths: str) -> bytes:
    return b"".join(Path(p).read_bytes() for p in paths if Path(p).exists())
