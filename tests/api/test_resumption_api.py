"""Each Hunan resumption tier end to end over simulated months, on both databases: certify,
go overdue, be suspended, return after 6, 18, 30 and 61 months withheld."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.domain.enums import Role
from app.domain.months import Month
from tests.conftest import Api
from tests.factories import benefit, hunan_window, recipient

# Certified 2026-05-10 in Hunan: valid through 2027-04-30, so 2027-05 is the first month
# withheld (enforcement began 2026-06-01).
FIRST_WITHHELD = Month(2027, 5)


async def _suspended_pension(api: Api, benefit_type: str) -> tuple[httpx.AsyncClient, str]:
    api.set_now("2026-05-01T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("4301",))
    body = recipient(benefits=[benefit(agency_code="430102", benefit_type=benefit_type)])
    rid: str = (await county.post("/v1/recipients", json=body)).json()["recipient_id"]
    api.set_now("2026-05-10T10:00:00+08:00")
    first = await county.post(
        "/v1/certifications", json=hunan_window(rid, "2026-05-10T09:00:00+08:00", "w0")
    )
    assert first.status_code == 201, first.text
    return county, rid


async def _answer(reader: httpx.AsyncClient, rid: str, on: str) -> dict[str, Any]:
    response = await reader.get(f"/v1/recipients/{rid}/eligibility", params={"on": on})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["benefits"][0]
    return answer


@pytest.mark.parametrize(
    ("benefit_type", "months_withheld", "mode", "step"),
    [
        ("enterprise_pension", 6, "automatic", None),
        ("enterprise_pension", 18, "commitment_required", "commitments"),
        ("enterprise_pension", 30, "commitment_required", "commitments"),
        ("enterprise_pension", 61, "continuation_procedure", "continuations"),
        ("institution_pension", 18, "employer_verification", "employer-verifications"),
    ],
)
async def test_returning_after_a_suspension_takes_the_tier_its_length_calls_for(
    api: Api, benefit_type: str, months_withheld: int, mode: str, step: str | None
) -> None:
    county, rid = await _suspended_pension(api, benefit_type)
    reader = await api.new_client(Role.PAYMENT)  # counties do not read eligibility
    last_withheld = FIRST_WITHHELD + (months_withheld - 1)
    overdue = await _answer(reader, rid, last_withheld.last_day.isoformat())
    assert (overdue["status"], overdue["reason"], overdue["payable"]) == (
        "suspended",
        "overdue",
        False,
    )

    back = last_withheld + 1
    day = back.first_day.replace(day=10).isoformat()
    api.set_now(f"{day}T10:00:00+08:00")
    posted = await county.post(
        "/v1/certifications", json=hunan_window(rid, f"{day}T09:00:00+08:00", "w1")
    )
    assert posted.status_code == 201, posted.text
    answer = await _answer(reader, rid, day)
    expected_back_pay = [str(FIRST_WITHHELD + i) for i in range(months_withheld)]
    if step is None:
        assert (answer["status"], answer["payable"]) == ("eligible", True)
        assert answer["back_pay_months"] == expected_back_pay
        return
    assert (answer["status"], answer["reason"], answer["payable"]) == ("suspended", mode, False)
    assert answer["resumption"] == {"mode": mode}
    bodies = {
        "commitments": {"signed_on": day},
        "employer-verifications": {"employer": "长沙市某单位", "verified_on": day},
        "continuations": {"decided_on": day, "decision_ref": "续发-2032-1"},
    }
    recorded = await county.post(f"/v1/recipients/{rid}/{step}", json=bodies[step])
    assert recorded.status_code == 201, recorded.text
    resumed = await _answer(reader, rid, day)
    assert (resumed["status"], resumed["payable"]) == ("eligible", True)
    assert resumed["back_pay_months"] == expected_back_pay


async def test_post_checks_list_resumptions_after_more_than_twelve_months(api: Api) -> None:
    county, rid = await _suspended_pension(api, "enterprise_pension")
    # Withheld 2027-05 .. 2028-06 (14 months), back with a commitment in 2028-07.
    api.set_now("2028-07-10T10:00:00+08:00")
    await county.post(
        "/v1/certifications", json=hunan_window(rid, "2028-07-10T09:00:00+08:00", "w1")
    )
    await county.post(f"/v1/recipients/{rid}/commitments", json={"signed_on": "2028-07-10"})
    listed = await county.get(
        "/v1/post-checks", params={"agency_code": "4301", "since": "2028-01-01"}
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()
    assert [(i["recipient_id"], i["resumed_in"], i["suspended_months"]) for i in items] == [
        (rid, "2028-07", 14)
    ]
    elsewhere = await county.get("/v1/post-checks", params={"agency_code": "1404"})
    assert elsewhere.status_code == 403
