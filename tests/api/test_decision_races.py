"""Human decisions cannot race (issue 15): ten county clients decide the same thing at once,
each request on its own connection and transaction (the committing app), and exactly one
decision stands; the other nine get 409 ``already_resolved`` whose ``standing`` names it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from app.db.models import (
    AuditEntry,
    HomeVisitRequest,
    ResumptionStep,
    StopReport,
    VerificationCase,
)
from app.domain.enums import Role
from tests.conftest import Api, Database
from tests.factories import benefit, face, hunan_window, recipient

CALLERS = 10
Decide = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def _race(api: Api, region: str, decide: Decide) -> tuple[httpx.Response, list[Any]]:
    """Fire one decision per caller at once; the one accepted and the problems of the rest."""
    callers = [await api.new_client(Role.COUNTY, (region,)) for _ in range(CALLERS)]
    responses = await asyncio.gather(*(decide(c, i) for i, c in enumerate(callers)))
    accepted = [r for r in responses if r.status_code in (200, 201)]
    refused = [r for r in responses if r not in accepted]
    assert len(accepted) == 1, " ".join(str(r.status_code) for r in responses)
    assert [(r.status_code, r.json()["code"]) for r in refused] == [(409, "already_resolved")] * (
        CALLERS - 1
    )
    assert all(r.headers["content-type"] == "application/problem+json" for r in refused)
    return accepted[0], [r.json()["standing"] for r in refused]


async def _count(database: Database, query: Any) -> int:
    async with database.engine.connect() as connection:
        return int(await connection.scalar(query) or 0)


async def _register(county: httpx.AsyncClient, **overrides: Any) -> str:
    response = await county.post("/v1/recipients", json=recipient(**overrides))
    assert response.status_code == 201, response.text
    rid: str = response.json()["recipient_id"]
    return rid


async def _registered_in_changzhi(api: Api, now: str) -> tuple[httpx.AsyncClient, str]:
    """On ``now``: a Changzhi (1404) county's client and a recipient it registered."""
    api.set_now(now)
    county = await api.new_client(Role.COUNTY, ("1404",))
    return county, await _register(county)


async def _answer(api: Api, rid: str) -> dict[str, Any]:
    """The answer the payment system gets now (counties do not read eligibility)."""
    payment = await api.new_client(Role.PAYMENT)
    response = await payment.get(f"/v1/recipients/{rid}/eligibility")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["benefits"][0]
    return answer


async def test_of_ten_opposite_resolutions_of_one_case_exactly_one_stands(
    committing_api: Api, database: Database
) -> None:
    county, rid = await _registered_in_changzhi(committing_api, "2026-05-10T10:00:00+08:00")
    mobile = await committing_api.new_client(Role.MOBILE)
    await mobile.post("/v1/certifications", json=face(rid, "2026-03-15T09:00:00+08:00"))
    suspicion = {
        "recipient_id": rid,
        "reason": "death",
        "occurred_on": "2026-05-02",
        "reported_by": "agency",
        "suspected": True,
    }
    case_id = (await county.post("/v1/stop-reports", json=suspicion)).json()["case_id"]
    committing_api.set_now("2026-06-05T10:00:00+08:00")

    def resolve(caller: httpx.AsyncClient, index: int) -> Awaitable[httpx.Response]:
        eligible = {"outcome": "confirmed_eligible"}
        ineligible = {"outcome": "confirmed_ineligible", "effective_on": "2026-05-02"}
        body = eligible if index % 2 else ineligible
        return caller.post(f"/v1/verification-cases/{case_id}/resolution", json=body)

    winner, standing = await _race(committing_api, "1404", resolve)
    outcome = winner.json()["outcome"]
    assert {(s["decision"], s["case_id"], s["outcome"]) for s in standing} == {
        ("case_resolution", case_id, outcome)
    }
    stored = (await county.get(f"/v1/verification-cases/{case_id}")).json()
    assert (stored["status"], stored["outcome"]) == ("resolved", outcome)
    # What the winner was told is what the payment system is told now.
    answer = await _answer(committing_api, rid)
    assert answer["status"] == winner.json()["effects"][0]["status"]
    assert answer["status"] == ("eligible" if outcome == "confirmed_eligible" else "stopped")
    audited = select(func.count()).where(AuditEntry.action.like("case.confirmed_%"))
    assert await _count(database, audited) == 1


async def test_of_ten_confirmed_death_reports_at_once_one_is_recorded(
    committing_api: Api, database: Database
) -> None:
    _, rid = await _registered_in_changzhi(committing_api, "2026-06-10T10:00:00+08:00")

    def report(caller: httpx.AsyncClient, index: int) -> Awaitable[httpx.Response]:
        body = {
            "recipient_id": rid,
            "reason": "death",
            "occurred_on": "2026-05-20",
            "reported_by": "family" if index % 2 else "employer",
        }
        return caller.post("/v1/stop-reports", json=body)

    winner, standing = await _race(committing_api, "1404", report)
    first = winner.json()
    assert {(s["decision"], s["report_id"], s["occurred_on"]) for s in standing} == {
        ("stop_report", first["report_id"], first["occurred_on"])
    }
    reports = select(func.count()).where(StopReport.recipient_id == uuid.UUID(rid))
    assert await _count(database, reports) == 1
    assert ((answer := await _answer(committing_api, rid))["status"], answer["reason"]) == (
        "stopped",
        "deceased",
    )


async def test_a_stop_report_that_changes_nothing_is_refused_and_one_that_does_is_kept(
    committing_api: Api,
) -> None:
    """Sequential, not a race: a later day of the same stop is a repeat; an earlier day moves
    the stop (the engine stops from the earliest); a release ends an imprisonment, after which
    a new imprisonment is a new decision."""
    county, rid = await _registered_in_changzhi(committing_api, "2026-06-10T10:00:00+08:00")
    other = await _register(county)
    bodies = [
        (rid, "imprisonment", "2026-03-02", [], 201),
        (rid, "imprisonment", "2026-03-02", [], 409),
        (rid, "imprisonment", "2026-03-09", [], 409),
        (rid, "imprisonment", "2026-03-01", [], 201),
        (rid, "release", "2026-05-01", ["release-cert-1"], 201),
        (rid, "imprisonment", "2026-06-01", [], 201),
        (other, "death", "2026-05-20", [], 201),
        (other, "death", "2026-05-25", [], 409),
        (other, "death", "2026-05-18", [], 201),
    ]
    for person, reason, on, documents, expected in bodies:
        body = {
            "recipient_id": person,
            "reason": reason,
            "occurred_on": on,
            "reported_by": "agency",
            "documents": documents,
        }
        response = await county.post("/v1/stop-reports", json=body)
        assert response.status_code == expected, (reason, on, response.text)
        if expected == 409:
            assert response.json()["standing"]["occurred_on"] <= on


# Hunan enterprise pension certified 2026-05-10, valid through 2027-04-30; 18 months withheld
# 2027-05 .. 2028-10 need the commitment (or, for an institution pension, the employer).
async def _waiting_for_a_step(api: Api, benefit_type: str, expected: str) -> str:
    api.set_now("2026-05-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("4301",))
    rid = await _register(
        county, benefits=[benefit(agency_code="430102", benefit_type=benefit_type)]
    )
    await county.post(
        "/v1/certifications", json=hunan_window(rid, "2026-05-10T09:00:00+08:00", "w0")
    )
    api.set_now("2028-11-10T10:00:00+08:00")
    back = await county.post(
        "/v1/certifications", json=hunan_window(rid, "2028-11-10T09:00:00+08:00", "w1")
    )
    assert back.status_code == 201, back.text
    answer = await _answer(api, rid)
    assert (answer["status"], answer["reason"]) == ("suspended", expected)
    return rid


async def _one_step_stands(
    api: Api,
    database: Database,
    rid: str,
    path: str,
    body: dict[str, Any],
    region: str = "4301",
    reference: str = "document_ref",
    after: str = "eligible",
) -> None:
    def record(caller: httpx.AsyncClient, index: int) -> Awaitable[httpx.Response]:
        return caller.post(f"/v1/recipients/{rid}/{path}", json=body | {reference: f"d-{index}"})

    winner, standing = await _race(api, region, record)
    step = winner.json()
    assert {(s["decision"], s["step_id"], s["reference"]) for s in standing} == {
        ("resumption_step", step["step_id"], step["reference"])
    }
    assert step["effects"][0]["status"] == after
    steps = select(func.count()).where(ResumptionStep.recipient_id == uuid.UUID(rid))
    assert await _count(database, steps) == 1


async def test_of_ten_commitments_recorded_at_once_one_resumes_the_pension(
    committing_api: Api, database: Database
) -> None:
    rid = await _waiting_for_a_step(committing_api, "enterprise_pension", "commitment_required")
    body = {"signed_on": "2028-11-10"}
    await _one_step_stands(committing_api, database, rid, "commitments", body)


async def test_of_ten_employer_verifications_at_once_one_resumes_the_pension(
    committing_api: Api, database: Database
) -> None:
    rid = await _waiting_for_a_step(committing_api, "institution_pension", "employer_verification")
    body = {"employer": "长沙市某单位", "verified_on": "2028-11-10"}
    await _one_step_stands(committing_api, database, rid, "employer-verifications", body)


async def test_of_ten_continuations_after_a_verified_stop_one_stands(
    committing_api: Api, database: Database
) -> None:
    county, rid = await _registered_in_changzhi(committing_api, "2026-05-10T10:00:00+08:00")
    mobile = await committing_api.new_client(Role.MOBILE)
    await mobile.post("/v1/certifications", json=face(rid, "2026-05-09T09:00:00+08:00"))
    # The agency's own verification stops (核实停发): a case no stop report opened.
    case_id = await _deceased_visit(county, rid)
    stop = {"outcome": "confirmed_ineligible", "effective_on": "2026-05-02"}
    resolved = await county.post(f"/v1/verification-cases/{case_id}/resolution", json=stop)
    assert resolved.status_code == 200, resolved.text
    committing_api.set_now("2026-06-10T10:00:00+08:00")
    stopped = await _answer(committing_api, rid)
    assert (stopped["status"], stopped["resumption"]) == (
        "stopped",
        {"mode": "continuation_procedure"},
    )
    # The continuation lifts the stop; certifications before it no longer count (suspended).
    body = {"decided_on": "2026-06-10"}
    await _one_step_stands(
        committing_api, database, rid, "continuations", body, "1404", "decision_ref", "suspended"
    )


async def _deceased_visit(county: httpx.AsyncClient, rid: str) -> str:
    path = await _assigned_visit(county, rid)
    failed = await county.post(f"{path}/outcome", json={"outcome": "deceased"})
    assert failed.status_code == 200, failed.text
    case_id: str = failed.json()["case_id"]
    return case_id


async def _assigned_visit(county: httpx.AsyncClient, rid: str) -> str:
    application = {"recipient_id": rid, "requested_by": "family", "reason": "elderly"}
    opened = await county.post("/v1/home-visit-requests", json=application)
    assert opened.status_code == 201, opened.text
    path = f"/v1/home-visit-requests/{opened.json()['request_id']}"
    visitor = {"visitor_type": "grid_worker", "visitor_id": "grid-12"}
    assert (await county.post(f"{path}/assignment", json=visitor)).status_code == 200
    return path


async def test_of_ten_outcomes_of_one_home_visit_one_stands(
    committing_api: Api, database: Database
) -> None:
    county, rid = await _registered_in_changzhi(committing_api, "2026-06-09T16:00:00+08:00")
    path = await _assigned_visit(county, rid)
    request_id = path.rsplit("/", 1)[1]

    def outcome(caller: httpx.AsyncClient, index: int) -> Awaitable[httpx.Response]:
        body = {"outcome": "deceased" if index % 2 else "refused"}
        return caller.post(f"{path}/outcome", json=body)

    winner, standing = await _race(committing_api, "1404", outcome)
    decided = winner.json()["outcome"]
    assert {(s["decision"], s["request_id"], s["status"], s["outcome"]) for s in standing} == {
        ("home_visit_outcome", request_id, "failed", decided)
    }
    # Only a `deceased` that stood opened a verification case.
    cases = select(func.count()).where(VerificationCase.reason == "home_visit_deceased")
    assert await _count(database, cases) == (1 if decided == "deceased" else 0)


async def test_of_ten_applications_for_one_person_at_once_one_request_opens(
    committing_api: Api, database: Database
) -> None:
    _, rid = await _registered_in_changzhi(committing_api, "2026-06-09T16:00:00+08:00")
    application = {"recipient_id": rid, "requested_by": "family", "reason": "elderly"}
    callers = [await committing_api.new_client(Role.COUNTY, ("1404",)) for _ in range(CALLERS)]
    responses = await asyncio.gather(
        *(c.post("/v1/home-visit-requests", json=application) for c in callers)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * (CALLERS - 1)
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "home_visit_request_open"
    }
    requests = select(func.count()).where(HomeVisitRequest.recipient_id == uuid.UUID(rid))
    assert await _count(database, requests) == 1
