"""The eligibility endpoint and benefit approval, end to end on both databases."""

from __future__ import annotations

from typing import Any

import httpx

from app.domain.enums import Role
from tests.conftest import Api
from tests.factories import benefit, face, recipient


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
    answer = (await county.get(f"{path}/eligibility")).json()["benefits"][0]
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


async def test_a_benefit_no_policy_covers_is_refused(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("11",))
    response = await county.post(
        "/v1/recipients", json=recipient(benefits=[benefit(agency_code="110105")])
    )
    assert response.status_code == 422
    assert response.json()["code"] == "no_policy_for_agency"
