"""The benchmark ceiling endpoint: off unless asked for, never in the contract, and when on, one
recipient row read the way the eligibility endpoint reads (PostgreSQL: the asyncpg read pool)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import new_id
from app.domain.enums import Role
from app.main import create_app
from app.services.accounts.clients import create_client
from tests.conftest import Api, Database, empty_tables, make_settings, with_lifespan_state
from tests.factories import recipient

PATH = "/bench/ceiling/{}"


async def test_the_ceiling_is_off_by_default_and_never_documented(api: Api) -> None:
    admin = await api.new_client(Role.ADMIN)
    assert (await admin.get(PATH.format(new_id()))).status_code == 404
    assert not [path for path in api.fastapi.openapi()["paths"] if path.startswith("/bench")]


async def test_when_enabled_it_reads_one_recipient_row(database: Database, workdir: Path) -> None:
    settings = make_settings(workdir, database.url, bench_ceiling=True)
    app = create_app(settings, engine=database.engine)
    assert not [path for path in app.openapi()["paths"] if path.startswith("/bench")]
    try:
        async with app.router.lifespan_context(app) as state:
            assert state is not None
            # No read pool on SQLite, nor behind a transaction pooler (docs/deploy.md).
            assert (state["read_pool"] is None) == (database.backend == "sqlite" or database.pooled)
            async with AsyncSession(database.engine) as session, session.begin():
                _, key = await create_client(session, "ceiling-county", Role.COUNTY, ("14",))
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=with_lifespan_state(app, state)),
                base_url="http://test",
            )
            async with client:
                body = recipient()
                created = await client.post(
                    "/v1/recipients", json=body, headers={"Authorization": f"Bearer {key}"}
                )
                assert created.status_code == 201, created.text
                person = created.json()
                # No key needed: a bare endpoint, off unless the benchmark turns it on.
                answer = await client.get(PATH.format(person["recipient_id"]))
                assert answer.status_code == 200, answer.text
                assert answer.json() == {
                    "id": person["recipient_id"],
                    "id_masked": person["id_number_masked"],
                    "birth_date": "{}-{}-{}".format(
                        body["id_number"][6:10], body["id_number"][10:12], body["id_number"][12:14]
                    ),
                    "residence": body["residence"],
                    "emergency_contacts": body["emergency_contacts"],
                }
                missing = await client.get(PATH.format(new_id()))
                assert missing.status_code == 404
    finally:
        await empty_tables(database.engine)
