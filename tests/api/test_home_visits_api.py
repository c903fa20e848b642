"""Home-visit requests from application to completion or failure, and the outreach list."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import HomeVisitRequest
from app.domain.enums import Role
from app.services.certifications.home_visits import complete_from_certification
from tests.conftest import Api
from tests.factories import benefit, certification, face, home_visit_details, id_number, recipient

REQUESTS = "/v1/home-visit-requests"


async def _register(county: httpx.AsyncClient, number: str | None = None, **overrides: Any) -> str:
    response = await county.post("/v1/recipients", json=recipient(number, **overrides))
    assert response.status_code == 201, response.text
    rid: str = response.json()["recipient_id"]
    return rid


def _application(rid: str, **overrides: Any) -> dict[str, Any]:
    return {
        "recipient_id": rid,
        "requested_by": "family",
        "reason": "elderly",
        "contact_phone": "13900001111",
        **overrides,
    }


async def _open(county: httpx.AsyncClient, rid: str) -> dict[str, Any]:
    response = await county.post(REQUESTS, json=_application(rid))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _visit(rid: str, request_id: str) -> dict[str, Any]:
    details = home_visit_details(request_id=request_id, visited_at="2026-06-09T15:00:00+08:00")
    return certification(rid, "home_visit", details, occurred_at="2026-06-09T15:00:00+08:00")


async def test_a_request_is_assigned_then_completed_by_the_visit_that_names_it(api: Api) -> None:
    api.set_now("2026-06-09T16:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    rid = await _register(county)
    opened = await _open(county, rid)
    assert (opened["status"], opened["agency_code"], opened["contact_phone"]) == (
        "open",
        "140402",
        "13900001111",
    )
    request_id = opened["request_id"]
    again = await county.post(REQUESTS, json=_application(rid))
    assert (again.status_code, again.json()["code"]) == (409, "home_visit_request_open")
    early = await county.post(f"{REQUESTS}/{request_id}/outcome", json={"outcome": "refused"})
    assert (early.status_code, early.json()["code"]) == (409, "home_visit_not_assigned")

    assignment = {"visitor_type": "grid_worker", "visitor_id": "grid-12"}
    assigned = await county.post(f"{REQUESTS}/{request_id}/assignment", json=assignment)
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["status"], assigned.json()["visitor_id"]) == ("assigned", "grid-12")
    reassigned = await county.post(
        f"{REQUESTS}/{request_id}/assignment", json=assignment | {"visitor_id": "grid-13"}
    )
    assert reassigned.json()["visitor_id"] == "grid-13"

    # A visit naming another request, or naming it loosely spelt, does what it should.
    other = await county.post("/v1/certifications", json=_visit(rid, "hv-elsewhere"))
    assert other.status_code == 201, other.text
    listed = await county.get(REQUESTS, params={"agency_code": "1404", "status": "assigned"})
    assert [item["request_id"] for item in listed.json()["items"]] == [request_id]
    visit = await county.post("/v1/certifications", json=_visit(rid, request_id.upper()))
    assert visit.status_code == 201, visit.text

    completed = (await county.get(f"{REQUESTS}/{request_id}")).json()
    assert completed["status"] == "completed"
    assert completed["certification_id"] == visit.json()["certification_id"]
    closed = await county.post(f"{REQUESTS}/{request_id}/assignment", json=assignment)
    assert (closed.status_code, closed.json()["code"]) == (409, "home_visit_request_closed")
    late = await county.post(f"{REQUESTS}/{request_id}/outcome", json={"outcome": "refused"})
    assert (late.status_code, late.json()["code"]) == (409, "already_resolved")
    assert (await county.post(REQUESTS, json=_application(rid))).status_code == 201

    admin = await api.new_client(Role.ADMIN)
    log = await admin.get("/v1/audit-log", params={"recipient_id": rid, "limit": 500})
    actions = [e["action"] for e in log.json()["items"] if e["resource_id"] == request_id]
    assert actions == [
        "home_visit_request.created",
        "home_visit_request.assigned",
        "home_visit_request.assigned",
        "home_visit_request.completed",
    ]
    assert "13900001111" not in log.text


async def test_completion_shows_in_a_listing_filtered_by_status(api: Api) -> None:
    api.set_now("2026-06-09T16:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    rid = await _register(county)
    request_id = (await _open(county, rid))["request_id"]
    assert (
        await county.post("/v1/certifications", json=_visit(rid, request_id))
    ).status_code == 201
    still_open = await county.get(REQUESTS, params={"status": "open"})
    assert still_open.json()["items"] == []
    done = await county.get(REQUESTS, params={"status": "completed"})
    assert [item["request_id"] for item in done.json()["items"]] == [request_id]


async def test_ingest_can_complete_a_request_at_once(api: Api, session: AsyncSession) -> None:
    api.set_now("2026-06-09T16:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    rid = await _register(county)
    request_id = (await _open(county, rid))["request_id"]
    visit = await county.post("/v1/certifications", json=_visit(rid, request_id))
    certification_id = uuid.UUID(visit.json()["certification_id"])
    await complete_from_certification(session, certification_id)
    row = await session.get_one(HomeVisitRequest, uuid.UUID(request_id))
    assert (row.status, row.certification_id) == ("completed", certification_id)


async def test_a_visit_that_finds_the_recipient_deceased_opens_a_case(api: Api) -> None:
    api.set_now("2026-06-09T16:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    assignment = {"visitor_type": "employer_staff", "visitor_id": "hr-3"}
    outcomes = {}
    for outcome in ("deceased", "refused"):
        rid = await _register(county)
        request_id = (await _open(county, rid))["request_id"]
        await county.post(f"{REQUESTS}/{request_id}/assignment", json=assignment)
        response = await county.post(
            f"{REQUESTS}/{request_id}/outcome", json={"outcome": outcome, "note": "neighbours"}
        )
        assert response.status_code == 200, response.text
        outcomes[outcome] = response.json()
    deceased = outcomes["deceased"]
    assert (deceased["status"], deceased["outcome"]) == ("failed", "deceased")
    assert deceased["note"] == "neighbours"
    case = await county.get(f"/v1/verification-cases/{deceased['case_id']}")
    assert case.status_code == 200, case.text
    assert (case.json()["reason"], case.json()["status"]) == ("home_visit_deceased", "open")
    assert outcomes["refused"]["case_id"] is None
    request_id = deceased["request_id"]
    again = await county.post(f"{REQUESTS}/{request_id}/outcome", json={"outcome": "refused"})
    assert (again.status_code, again.json()["code"]) == (409, "already_resolved")


async def test_requests_stay_in_the_county_s_regions(api: Api) -> None:
    api.set_now("2026-06-09T16:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    neighbour = await api.new_client(Role.COUNTY, ("1401",))
    mobile = await api.new_client(Role.MOBILE)
    rid = await _register(county)
    request_id = (await _open(county, rid))["request_id"]
    denied = await neighbour.post(REQUESTS, json=_application(rid))
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden_region")
    assert (await neighbour.get(f"{REQUESTS}/{request_id}")).status_code == 403
    assert (await neighbour.get(REQUESTS)).json()["items"] == []
    assert (await mobile.post(REQUESTS, json=_application(rid))).status_code == 403
    unknown = await county.post(REQUESTS, json=_application(str(uuid.uuid4())))
    assert unknown.status_code == 404
    bad = await county.post(REQUESTS, json=_application(rid, contact_phone="12"))
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_phone")
    missing = await county.post(
        f"{REQUESTS}/{uuid.uuid4()}/assignment",
        json={"visitor_type": "grid_worker", "visitor_id": "g"},
    )
    assert missing.status_code == 404


async def test_request_listings_page_by_cursor(api: Api) -> None:
    api.set_now("2026-06-09T16:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    opened = [(await _open(county, await _register(county)))["request_id"] for _ in range(3)]
    first = (await county.get(REQUESTS, params={"limit": 2})).json()
    second = (
        await county.get(REQUESTS, params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [i["request_id"] for i in first["items"] + second["items"]] == opened
    assert second["next_cursor"] is None


async def test_outreach_lists_whom_a_phone_reminder_will_not_reach(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    api.set_now("2026-06-01T10:00:00+08:00")
    pension = [benefit(benefit_type="enterprise_pension")]  # never certified: suspended
    people = {
        "old": await _register(county, id_number(birth="19400315"), benefits=pension),
        "disabled": await _register(
            county, benefits=[benefit(benefit_type="work_injury_disability")]
        ),
        "tried": await _register(county, benefits=pension),
        "no_phone": await _register(county, phone=None, benefits=pension),
        "ordinary": await _register(county, benefits=pension),
    }
    failed = face(people["tried"], "2026-05-30T09:00:00+08:00", similarity=0.5)
    api.set_now("2026-05-30T12:00:00+08:00")
    assert (await mobile.post("/v1/certifications", json=failed)).status_code == 201
    # Old, but certified in May: not due, so not listed.
    certified_old = await _register(county, id_number(birth="19300101"), benefits=pension)
    posted = face(certified_old, "2026-05-30T11:00:00+08:00")
    assert (await mobile.post("/v1/certifications", json=posted)).status_code == 201

    response = await county.get("/v1/outreach", params={"agency_code": "1404", "on": "2026-06-10"})
    assert response.status_code == 200, response.text
    why = {item["recipient_id"]: item["why"] for item in response.json()["items"]}
    assert why == {
        people["old"]: ["aged_80_or_over"],
        people["disabled"]: ["disability_benefit"],
        people["tried"]: ["failed_self_service"],
        people["no_phone"]: ["no_phone"],
    }
    item = response.json()["items"][0]
    assert (item["status"], item["phone"]) == ("suspended", "138****0000")
    mobile_denied = await mobile.get("/v1/outreach", params={"agency_code": "1404"})
    assert mobile_denied.status_code == 403
