"""Dates no event can have (issue 15, item 5): a death before the person was born or before
any benefit began, an event in the future, a person born in the future, a benefit that began
before its recipient was born. Each is refused with its own stable code and writes nothing."""

from __future__ import annotations

from datetime import timedelta

from app.domain.enums import Role
from app.domain.id_numbers import check_character
from app.services.eligibility.policies import today
from tests.conftest import Api
from tests.factories import benefit, id_number, recipient


def _born(birth: str) -> str:
    first17 = f"140402{birth}123"
    return first17 + check_character(first17)


async def test_a_death_before_birth_before_any_benefit_or_in_the_future_is_refused(
    api: Api,
) -> None:
    api.set_now("2026-06-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    # Born 1950-01-01; benefits from 2019-05-01 and 2021-03-01.
    registered = await county.post(
        "/v1/recipients",
        json=recipient(
            id_number(birth="19500101"),
            benefits=[
                benefit(start_date="2019-05-01"),
                benefit(benefit_type="work_injury_nursing", start_date="2021-03-01"),
            ],
        ),
    )
    assert registered.status_code == 201, registered.text
    recipient_id = registered.json()["recipient_id"]

    def death(on: str) -> dict[str, str]:
        return {
            "recipient_id": recipient_id,
            "reason": "death",
            "occurred_on": on,
            "reported_by": "family",
        }

    refused = {
        "1900-01-01": "before_birth",
        "1949-12-31": "before_birth",
        "2019-04-30": "before_benefit_start",
        "2026-06-11": "occurred_in_future",
    }
    for on, code in refused.items():
        response = await county.post("/v1/stop-reports", json=death(on))
        assert response.status_code == 422, on
        assert response.json()["code"] == code, on
    payment = await api.new_client(Role.PAYMENT)  # counties do not read eligibility
    eligibility = await payment.get(f"/v1/recipients/{recipient_id}/eligibility")
    assert {b["status"] for b in eligibility.json()["benefits"]} != {"stopped"}

    # After the first benefit began (though before the second): recorded, every benefit stops,
    # and what is to recover starts from the month after the death, not from year 1.
    accepted = await county.post("/v1/stop-reports", json=death("2020-01-15"))
    assert accepted.status_code == 201, accepted.text
    effects = accepted.json()["effects"]
    assert {effect["status"] for effect in effects} == {"stopped"}
    first = next(e for e in effects if e["benefit_type"] == "work_injury_dependent")
    assert first["overpaid_months"][0] == "2020-02"


async def test_a_benefit_specific_stop_before_birth_is_refused_too(api: Api) -> None:
    api.set_now("2026-06-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    registered = await county.post("/v1/recipients", json=recipient(id_number(birth="19500101")))
    person = registered.json()
    response = await county.post(
        "/v1/stop-reports",
        json={
            "recipient_id": person["recipient_id"],
            "benefit_id": person["benefits"][0]["benefit_id"],
            "reason": "re_employment",
            "occurred_on": "1949-06-01",
            "reported_by": "employer",
        },
    )
    assert response.status_code == 422
    assert response.json()["code"] == "before_birth"


async def test_an_id_number_with_a_birth_date_in_the_future_is_refused(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    tomorrow = today() + timedelta(days=1)
    for born in ("20990101", f"{tomorrow:%Y%m%d}"):
        number = _born(born)
        for path, body in (
            ("/v1/recipients", recipient(number)),
            ("/v1/recipients/lookup", {"id_number": number}),
        ):
            response = await county.post(path, json=body)
            assert response.status_code == 422, (path, born)
            problem = response.json()
            assert problem["code"] == "invalid_id_number"
            assert number not in response.text
            assert "future" in problem["errors"][0]["msg"]
    # Born today (a dependent child can be): a real date, accepted.
    born_today = _born(f"{today():%Y%m%d}")
    accepted = await county.post(
        "/v1/recipients", json=recipient(born_today, benefits=[benefit(start_date=str(today()))])
    )
    assert accepted.status_code == 201, accepted.text


async def test_a_benefit_starting_before_its_recipient_was_born_is_refused(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    response = await county.post(
        "/v1/recipients",
        json=recipient(id_number(birth="19800615"), benefits=[benefit(start_date="1980-06-14")]),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "before_birth"
    on_the_day = await county.post(
        "/v1/recipients",
        json=recipient(id_number(birth="19800615"), benefits=[benefit(start_date="1980-06-15")]),
    )
    assert on_the_day.status_code == 201, on_the_day.text


async def test_a_finding_of_ineligibility_dated_before_birth_or_any_benefit_is_refused(
    api: Api,
) -> None:
    """Overpayment is counted from a confirmed finding's `effective_on` (docs/policy.md §7.6):
    born 1950-01-01, drawing a benefit since 2019-05-01, a suspected death resolved with
    effective_on 1949-12-31, 2019-04-30 or tomorrow is refused with its code and leaves the
    case open; 2026-03-01 settles it."""
    api.set_now("2026-06-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    registered = await county.post(
        "/v1/recipients",
        json=recipient(id_number(birth="19500101"), benefits=[benefit(start_date="2019-05-01")]),
    )
    assert registered.status_code == 201, registered.text
    report = await county.post(
        "/v1/stop-reports",
        json={
            "recipient_id": registered.json()["recipient_id"],
            "reason": "death",
            "occurred_on": "2026-03-01",
            "reported_by": "agency",
            "suspected": True,
        },
    )
    assert report.status_code == 201, report.text
    path = f"/v1/verification-cases/{report.json()['case_id']}/resolution"

    def finding(on: str) -> dict[str, str]:
        return {"outcome": "confirmed_ineligible", "effective_on": on}

    refused = {
        "1949-12-31": "before_birth",
        "2019-04-30": "before_benefit_start",
        "2026-06-11": "effective_in_future",
    }
    for on, code in refused.items():
        response = await county.post(path, json=finding(on))
        assert (response.status_code, response.json()["code"]) == (422, code), on
    settled = await county.post(path, json=finding("2026-03-01"))
    assert settled.status_code == 200, settled.text
    assert settled.json()["outcome"] == "confirmed_ineligible"
