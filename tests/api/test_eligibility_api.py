"""The eligibility endpoint and benefit approval, end to end on both databases."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import AwareDatetime, TypeAdapter
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import PRINCIPAL_REFRESH_SECONDS, PRINCIPAL_TTL_SECONDS, Principal
from app.db.read_pool import create_read_pool
from app.domain.enums import Role
from app.domain.policy import load_policies
from app.main import create_app
from app.schemas.eligibility import RecipientEligibility
from app.services.accounts.clients import create_client, revoke_client
from app.services.eligibility.answers import recipient_eligibility, recipient_eligibility_json
from tests.conftest import Api, Database, empty_tables, make_settings, with_lifespan_state
from tests.factories import benefit, face, hunan_window, recipient


async def _register(county: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await county.post("/v1/recipients", json=recipient(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_worked_example_moves_validity_in_the_post_and_in_eligibility(api: Api) -> None:
    """DOMAIN.md: Shanxi dependent, one emergency contact, certified 2026-03-15 → valid through
    2026-08-31, paid through August, withheld from September."""
    api.set_now("2026-03-15T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    person = await _register(county)
    posted = await mobile.post(
        "/v1/certifications", json=face(person["recipient_id"], "2026-03-15T09:30:00+08:00")
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["counted"] is True
    assert posted.json()["benefits"][0]["valid_through"] == "2026-08-31"
    assert posted.json()["benefits"][0]["next_due"] == "2026-08-31"

    path = f"/v1/recipients/{person['recipient_id']}/eligibility"
    august = (await mobile.get(path, params={"on": "2026-08-31"})).json()["benefits"][0]
    assert august["payable"] is True
    assert august["status"] == "eligible"
    assert august["reason"] == "certified"
    assert august["cycle_months"] == 6
    assert august["policy"] == "shanxi-2026"
    assert august["last_certification"]["channel"] == "face"
    assert august["external_ref"] == "PAY-000123"
    september = (await mobile.get(path, params={"on": "2026-09-01"})).json()["benefits"][0]
    assert september["payable"] is False
    assert september["status"] == "suspended"
    assert september["reason"] == "overdue"


async def test_known_at_answers_from_what_was_recorded_by_then(api: Api) -> None:
    api.set_now("2026-03-01T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    person = await _register(county)
    api.set_now("2026-03-15T10:00:00+08:00")
    await mobile.post(
        "/v1/certifications", json=face(person["recipient_id"], "2026-03-15T09:30:00+08:00")
    )
    path = f"/v1/recipients/{person['recipient_id']}/eligibility"
    before = await mobile.get(
        path, params={"on": "2026-09-10", "known_at": "2026-03-15T09:59:00+08:00"}
    )
    assert before.status_code == 200
    assert before.json()["benefits"][0]["last_certification"] is None
    after = await mobile.get(
        path, params={"on": "2026-03-20", "known_at": "2026-03-15T10:01:00+08:00"}
    )
    assert after.json()["benefits"][0]["valid_through"] == "2026-08-31"
    not_yet_registered = await mobile.get(
        path, params={"on": "2026-03-20", "known_at": "2026-02-01T00:00:00+08:00"}
    )
    assert not_yet_registered.json()["benefits"] == []
    naive = await mobile.get(path, params={"known_at": "2026-03-15T10:01:00"})
    assert naive.status_code == 422


async def test_an_unapproved_benefit_awaits_its_first_certification(api: Api) -> None:
    api.set_now("2026-06-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    person = await _register(
        county, benefits=[benefit(benefit_type="unemployment", approved=False)]
    )
    benefit_id = person["benefits"][0]["benefit_id"]
    path = f"/v1/recipients/{person['recipient_id']}"
    reader = await api.new_client(Role.PAYMENT)
    answer = (await reader.get(f"{path}/eligibility")).json()["benefits"][0]
    assert (answer["status"], answer["payable"]) == ("awaiting_first_certification", False)
    refused = await county.post(f"{path}/benefits/{benefit_id}/approval")
    assert refused.status_code == 409
    assert refused.json()["code"] == "first_certification_required"

    window = {
        "recipient_id": person["recipient_id"],
        "channel": "manual",
        "result": "passed",
        "occurred_at": "2026-06-10T09:00:00+08:00",
        "source_ref": "window-1",
        "details": {
            "mode": "window",
            "office": "140402",
            "operator": "op-7",
            "commitment_signed": True,
            "photo_ref": "photos/2026/06/10/abc",
        },
    }
    assert (await county.post("/v1/certifications", json=window)).status_code == 201
    approved = await county.post(f"{path}/benefits/{benefit_id}/approval")
    assert approved.status_code == 200, approved.text
    assert approved.json()["payable"] is True
    assert approved.json()["valid_through"] == "2027-05-31"


async def test_hunan_unemployment_is_approved_without_a_certification(api: Api) -> None:
    """Hunan: "失业保险疑似丧失待遇享受资格人员应按规定进行资格认证": only suspects certify, the
    benefit has no cycle (docs/policy.md §2), so approving it on 2026-07-01 needs none."""
    api.set_now("2026-07-01T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("43",))
    person = await _register(
        county,
        benefits=[benefit(benefit_type="unemployment", agency_code="430102", approved=False)],
    )
    benefit_id = person["benefits"][0]["benefit_id"]
    path = f"/v1/recipients/{person['recipient_id']}/benefits/{benefit_id}/approval"
    approved = await county.post(path)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["payable"]) == ("not_required", True)


async def test_a_benefit_no_policy_covers_is_refused(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("11",))
    response = await county.post(
        "/v1/recipients", json=recipient(benefits=[benefit(agency_code="110105")])
    )
    assert response.status_code == 422
    assert response.json()["code"] == "no_policy_for_agency"


# --- the point read (issue 6): one statement, already JSON, same answer ----------------------

ADMIN = Principal(uuid.uuid4(), "reference", Role.ADMIN, ())
ANSWER = TypeAdapter(RecipientEligibility)
INSTANT = TypeAdapter(AwareDatetime)


async def _varied_population(api: Api) -> list[str]:
    """Recipients in every state the engine knows, registered and certified through the API:
    certified and overdue, several benefits, awaiting a first certification, a suspected then
    confirmed death with a case, an imprisonment and a documented release, a moratorium, a
    Hunan suspension with a commitment step, a revoked certification, microsecond instants."""
    api.set_now("2026-02-01T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("14",))
    hunan = await api.new_client(Role.COUNTY, ("43",))
    mobile = await api.new_client(Role.MOBILE)
    admin = await api.new_client(Role.ADMIN)
    plans = [
        [benefit()],
        [benefit(), benefit(benefit_type="enterprise_pension", external_ref=None)],
        [benefit(benefit_type="unemployment", approved=False, external_ref="U-3")],
        [benefit(), benefit(benefit_type="work_injury_nursing", external_ref="N-4")],
        [benefit(external_ref="I-5")],
        [benefit(agency_code="140105", external_ref="M-6")],
        [benefit(benefit_type="work_injury_disability", external_ref="R-7")],
    ]
    ids = [await _registered(county, benefits) for benefits in plans]
    certified = {}
    api.set_now("2026-03-15T10:00:00+08:00")
    for rid, occurred in zip(
        ids,
        [
            "2026-03-15T09:30:00+08:00",
            "2026-03-15T09:30:00.123456+08:00",
            None,
            "2026-03-15T09:00:00+08:00",
            "2026-03-15T09:00:00+08:00",
            "2026-03-15T09:00:00+08:00",
            "2026-03-15T09:00:00+08:00",
        ],
        strict=True,
    ):
        if occurred is not None:
            posted = await mobile.post("/v1/certifications", json=face(rid, occurred))
            assert posted.status_code == 201, posted.text
            certified[rid] = posted.json()["certification_id"]
    api.set_now("2026-05-10T10:00:00+08:00")
    suspected = await county.post(
        "/v1/stop-reports",
        json={
            "recipient_id": ids[3],
            "reason": "death",
            "occurred_on": "2026-05-02",
            "reported_by": "agency",
            "suspected": True,
        },
    )
    assert suspected.status_code == 201, suspected.text
    api.set_now("2026-06-05T10:00:00+08:00")
    resolved = await county.post(
        f"/v1/verification-cases/{suspected.json()['case_id']}/resolution",
        json={"outcome": "confirmed_ineligible", "effective_on": "2026-05-02"},
    )
    assert resolved.status_code == 200, resolved.text
    jailed = {"recipient_id": ids[4], "reason": "imprisonment", "reported_by": "family"}
    api.set_now("2026-04-10T10:00:00+08:00")
    assert (
        await county.post("/v1/stop-reports", json={**jailed, "occurred_on": "2026-04-02"})
    ).status_code == 201
    api.set_now("2026-07-10T10:00:00+08:00")
    released = {**jailed, "reason": "release", "occurred_on": "2026-07-08"}
    assert (
        await county.post("/v1/stop-reports", json={**released, "documents": ["release-1"]})
    ).status_code == 201
    moratorium = await admin.post(
        "/v1/moratoria",
        json={
            "agency_code": "140105",
            "benefit_types": ["work_injury_dependent"],
            "starts_on": "2026-09-01",
            "ends_on": "2026-09-30",
            "reason": "face service outage",
        },
    )
    assert moratorium.status_code == 201, moratorium.text
    revoked = await county.post(
        f"/v1/certifications/{certified[ids[6]]}/revoke", json={"reason": "wrong person"}
    )
    assert revoked.status_code == 200, revoked.text
    ids.append(await _hunan_resumed(api, hunan))
    return ids


async def _registered(county: httpx.AsyncClient, benefits: list[dict[str, Any]]) -> str:
    response = await county.post("/v1/recipients", json=recipient(benefits=benefits))
    assert response.status_code == 201, response.text
    rid: str = response.json()["recipient_id"]
    return rid


async def _hunan_resumed(api: Api, county: httpx.AsyncClient) -> str:
    """Certified 2026-05-10, withheld 18 months from 2027-05, certified again, committed."""
    api.set_now("2026-05-01T10:00:00+08:00")
    body = recipient(benefits=[benefit(agency_code="430102", benefit_type="enterprise_pension")])
    rid = await _registered(county, body["benefits"])
    for occurred, ref in (("2026-05-10T09:00:00+08:00", "h0"), ("2028-11-10T09:00:00+08:00", "h1")):
        api.set_now(occurred.replace("09:00", "10:00"))
        window = hunan_window(rid, occurred, ref)
        assert (await county.post("/v1/certifications", json=window)).status_code == 201
    api.set_now("2028-11-12T10:00:00+08:00")
    step = await county.post(f"/v1/recipients/{rid}/commitments", json={"signed_on": "2028-11-12"})
    assert step.status_code == 201, step.text
    return rid


ASKED = [
    ("2026-03-20", None),
    ("2026-06-10", None),
    ("2026-09-10", None),
    ("2026-12-01", None),
    ("2028-11-20", None),
    ("2026-06-10", "2026-05-20T12:00:00+08:00"),
    ("2026-09-10", "2026-08-01T00:00:00Z"),
    ("2026-03-20", "2026-03-15T02:00:00.250000Z"),
]


async def _reference(session: AsyncSession, rid: str, on: str, known_at: str | None) -> bytes:
    """What the endpoint answered before issue 6: the ORM path's model, serialized by FastAPI
    against the response model (pydantic's dump_json)."""
    answer = await recipient_eligibility(
        session,
        ADMIN,
        load_policies(),
        uuid.UUID(rid),
        date.fromisoformat(on),
        None if known_at is None else INSTANT.validate_python(known_at),
    )
    return ANSWER.dump_json(ANSWER.validate_python(answer))


async def _compare_every_answer(
    client: httpx.AsyncClient,
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    ids: list[str],
) -> set[tuple[str, str]]:
    seen = set()
    for rid in ids:
        for on, known_at in ASKED:
            params = {"on": on} if known_at is None else {"on": on, "known_at": known_at}
            response = await client.get(f"/v1/recipients/{rid}/eligibility", params=params)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            async with sessions() as session:
                expected = await _reference(session, rid, on, known_at)
            assert response.content == expected, (on, known_at)
            seen |= {(b["status"], b["reason"]) for b in response.json()["benefits"]}
    return seen


async def test_the_point_read_answers_byte_for_byte_what_the_model_path_answers(
    api: Api, session: AsyncSession
) -> None:
    """On PostgreSQL the endpoint reads one statement and writes JSON itself; on SQLite it
    reads through the ORM. Either way: the bytes the response model gave before."""
    ids = await _varied_population(api)
    payment = await api.new_client(Role.PAYMENT)
    seen = await _compare_every_answer(payment, lambda: nullcontext(session), ids)
    assert {status for status, _ in seen} == {
        "eligible",
        "suspended",
        "stopped",
        "awaiting_first_certification",
    }
    reasons = {reason for _, reason in seen}
    assert {"certified", "overdue", "deceased", "incarcerated", "moratorium"} <= reasons


async def test_the_point_read_through_the_read_pool_answers_the_same(
    committing_api: Api, database: Database
) -> None:
    """As deployed: committed data, the app's own asyncpg read pool on PostgreSQL (the other
    test reads through the test's transaction instead)."""
    ids = await _varied_population(committing_api)
    payment = await committing_api.new_client(Role.PAYMENT)
    # A short session per reference: SQLite's write lock must not outlive it.
    await _compare_every_answer(payment, lambda: AsyncSession(database.engine), ids[:3] + ids[-2:])
    pool = await create_read_pool(database.settings)
    # No read pool on SQLite, nor behind a transaction pooler (docs/deploy.md).
    assert (pool is None) == (database.backend == "sqlite" or database.pooled)
    if pool is None:
        return

    def no_session() -> AsyncSession:
        raise AssertionError("the read pool answers alone: no session is made")

    try:
        body = await recipient_eligibility_json(
            no_session, pool, ADMIN, load_policies(), uuid.UUID(ids[3]), date(2026, 6, 10)
        )
        assert pool.pool.get_size() == 1  # read through the pool
        async with AsyncSession(database.engine) as session:
            assert body == await _reference(session, ids[3], "2026-06-10", None)
    finally:
        await pool.close()


async def test_point_reads_answer_mobile_and_payment_and_refuse_other_roles(api: Api) -> None:
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    rid = await _registered(changzhi, [benefit()])
    path = f"/v1/recipients/{rid}/eligibility"
    payment = await api.new_client(Role.PAYMENT)
    assert (await (await api.new_client(Role.MOBILE)).get(path)).status_code == 200
    assert (await payment.get(path)).status_code == 200
    # API.md gives eligibility reads to mobile and payment only: even the county that pays
    # the benefit reads its status through its own work (certifications, cases, stats).
    for outsider in (
        changzhi,
        await api.new_client(Role.COUNTY, ("4301",)),
        await api.new_client(Role.DATA_EXCHANGE, ("1401",)),
    ):
        refused = await outsider.get(path)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role")
    missing = await payment.get("/v1/recipients/01a20911-3a3f-7be8-853d-868634976169/eligibility")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    malformed = await payment.get("/v1/recipients/not-a-uuid/eligibility")
    assert (malformed.status_code, malformed.json()["code"]) == (422, "validation_error")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_revoked_key_stops_working_within_the_cache_lifetime(
    api: Api, session: AsyncSession
) -> None:
    """Authenticated callers are cached per process for PRINCIPAL_TTL_SECONDS
    (docs/security.md): a revoked key may go on working until its entry is refreshed, in the
    entry's last PRINCIPAL_REFRESH_SECONDS, and never past its lifetime."""
    clock = Clock()
    api.fastapi.state.principal_cache.clock = clock
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    rid = await _registered(changzhi, [benefit()])
    _, key = await create_client(session, "to-be-revoked", Role.MOBILE, ())
    await session.commit()
    mobile = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    )
    async with mobile:
        path = f"/v1/recipients/{rid}/eligibility"
        assert (await mobile.get(path)).status_code == 200
        await revoke_client(session, "to-be-revoked")
        await session.commit()
        clock.now += PRINCIPAL_TTL_SECONDS - PRINCIPAL_REFRESH_SECONDS - 0.5
        assert (await mobile.get(path)).status_code == 200  # the bounded staleness
        clock.now += 0.5  # the entry's last second: the next request looks the key up again
        for _ in range(2):
            refused = await mobile.get(path)
            assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
            assert refused.headers["www-authenticate"] == "Bearer"


async def test_point_reads_without_a_bearer_key_get_401(api: Api) -> None:
    """The caller is read without a security dependency (`ReadingCall`, app/deps.py): no key,
    another scheme and an unknown key still get 401, and OpenAPI still names the scheme."""
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    path = f"/v1/recipients/{await _registered(changzhi, [benefit()])}/eligibility"
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://t")
    async with anonymous:
        for headers in (
            {},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": "Bearer csk_not-a-key"},
        ):
            refused = await anonymous.get(path, headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
            assert refused.headers["www-authenticate"] == "Bearer"
    operation = api.fastapi.openapi()["paths"]["/v1/recipients/{recipient_id}/eligibility"]
    assert operation["get"]["security"] == [{"HTTPBearer": []}]


async def test_a_read_pool_that_cannot_reach_the_database_answers_503(
    database: Database, workdir: Path
) -> None:
    """The point read's own pool fails as the engine does: 503 database_unavailable, with
    Retry-After, never a 500 (here its server is a closed port, the caller still cached)."""
    if database.backend == "sqlite" or database.pooled:
        pytest.skip("the read pool is PostgreSQL's, without a transaction pooler")
    app = create_app(database.settings, engine=database.engine)
    try:
        async with app.router.lifespan_context(app) as state:
            assert isinstance(state, dict)  # each request gets a copy: swapped in below
            async with AsyncSession(database.engine) as session, session.begin():
                _, county = await create_client(session, "read-pool-county", Role.COUNTY, ("14",))
                _, key = await create_client(session, "read-pool-payment", Role.PAYMENT, ())
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=with_lifespan_state(app, state)),
                base_url="http://test",
                headers={"Authorization": f"Bearer {key}"},
            )
            async with client:
                registered = await client.post(
                    "/v1/recipients",
                    json=recipient(benefits=[benefit()]),
                    headers={"Authorization": f"Bearer {county}"},
                )
                rid = registered.json()["recipient_id"]
                path = f"/v1/recipients/{rid}/eligibility"
                assert (await client.get(path)).status_code == 200
                unreachable = make_url(database.url).set(port=_closed_port())
                dead = await create_read_pool(
                    make_settings(workdir, unreachable.render_as_string(hide_password=False))
                )
                assert dead is not None
                await state["read_pool"].close()
                state["read_pool"] = dead
                try:
                    refused = await client.get(path)
                finally:
                    await dead.close()
                assert refused.status_code == 503, refused.text
                assert refused.json()["code"] == "database_unavailable"
                assert refused.headers["retry-after"] == "5"
    finally:
        await empty_tables(database.engine)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again when the socket is: nothing listens there
