"""Recipients registry over HTTP, on both databases."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, text

from app.db.models import Recipient
from app.domain.enums import Role
from tests.conftest import Api, Database
from tests.factories import benefit, id_number, recipient, with_wrong_check


async def test_registering_returns_masked_id_and_benefit_ids(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    number = id_number()
    response = await county.post("/v1/recipients", json=recipient(number))
    assert response.status_code == 201
    body = response.json()
    assert body["id_number_masked"] == number[:4] + "*" * 14
    assert number not in response.text
    assert number[-4:] not in body["id_number_masked"]
    assert body["benefits"][0]["benefit_type"] == "work_injury_dependent"
    assert body["benefits"][0]["benefit_id"]


async def test_birth_dates_go_to_admin_only(api: Api) -> None:
    """With the masked ID and the agency a birth date narrows the ID number down (OWASP
    API3): counties, which hold the number when they need the date, read it as null."""
    county = await api.new_client(Role.COUNTY, ("1404",))
    elsewhere = await api.new_client(Role.COUNTY, ("1401",))
    admin = await api.new_client(Role.ADMIN)
    number = id_number(birth="19500101")
    registered = (await county.post("/v1/recipients", json=recipient(number))).json()
    path = f"/v1/recipients/{registered['recipient_id']}"
    answers = {
        "registered": registered,
        "county read": (await county.get(path)).json(),
        "province look-up": (
            await elsewhere.post("/v1/recipients/lookup", json={"id_number": number})
        ).json(),
        "county update": (await county.patch(path, json={"residence": "overseas"})).json(),
    }
    assert {name: answer["birth_date"] for name, answer in answers.items()} == dict.fromkeys(
        answers
    )
    assert all("1950-01-01" not in str(answer) for answer in answers.values())
    assert (await admin.get(path)).json()["birth_date"] == "1950-01-01"


async def test_registering_again_updates_the_same_recipient(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    number = id_number()
    first = (await county.post("/v1/recipients", json=recipient(number))).json()
    again = await county.post(
        "/v1/recipients",
        json=recipient(
            number,
            phone="13900000000",
            benefits=[benefit(), benefit(benefit_type="unemployment", external_ref="U-1")],
        ),
    )
    assert again.status_code == 200
    body = again.json()
    assert body["recipient_id"] == first["recipient_id"]
    assert body["phone"] == "13900000000"
    assert sorted(b["benefit_type"] for b in body["benefits"]) == [
        "unemployment",
        "work_injury_dependent",
    ]
    assert body["benefits"][0]["benefit_id"] == first["benefits"][0]["benefit_id"]


async def test_a_wrong_check_character_is_rejected_without_echoing_the_number(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    wrong = with_wrong_check(id_number())
    response = await county.post("/v1/recipients", json=recipient(wrong))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_id_number"
    assert problem["errors"][0]["loc"] == ["body", "id_number"]
    assert wrong not in response.text


async def test_invalid_fields_are_422_validation_errors(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    cases = [
        recipient(residence="abroad"),
        recipient(emergency_contacts=-1),
        recipient(phone="12345"),
        recipient(benefits=[benefit(benefit_type="pension")]),
        recipient(benefits=[benefit(agency_code="14040")]),
        recipient(benefits=[]),
        recipient(benefits=[benefit(), benefit()]),
        {**recipient(), "nickname": "typo fields are refused"},
    ]
    for body in cases:
        response = await county.post("/v1/recipients", json=body)
        assert response.status_code == 422, body
        assert response.json()["code"] in {
            "validation_error",
            "invalid_agency_code",
            "invalid_phone",
            "benefit_listed_twice",  # between items: its own code (docs/certifications.md)
        }


async def test_a_county_client_cannot_register_outside_its_regions(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    response = await county.post(
        "/v1/recipients", json=recipient(benefits=[benefit(agency_code="430102")])
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_region"


async def test_roles_that_do_not_register_get_forbidden_role(api: Api) -> None:
    for role in (Role.MOBILE, Role.PAYMENT, Role.DATA_EXCHANGE):
        client = await api.new_client(role, ("14",) if role is Role.DATA_EXCHANGE else ())
        response = await client.post("/v1/recipients", json=recipient())
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden_role"


async def test_requests_without_a_valid_key_get_401(api: Api) -> None:
    client = await api.new_client(Role.ADMIN)
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer csk_not-a-key"}):
        response = await client.post(
            "/v1/recipients/lookup", json={"id_number": id_number()}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


async def test_lookup_finds_by_id_number_and_404s_unknown(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    number = id_number()
    created = (await county.post("/v1/recipients", json=recipient(number))).json()
    found = await county.post("/v1/recipients/lookup", json={"id_number": number})
    assert found.status_code == 200
    assert found.json()["recipient_id"] == created["recipient_id"]
    missing = await county.post("/v1/recipients/lookup", json={"id_number": id_number()})
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_county_reads_across_its_province_but_not_beyond(api: Api) -> None:
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    taiyuan = await api.new_client(Role.COUNTY, ("1401",))
    changsha = await api.new_client(Role.COUNTY, ("4301",))
    created = (await changzhi.post("/v1/recipients", json=recipient())).json()
    path = f"/v1/recipients/{created['recipient_id']}"
    assert (await taiyuan.get(path)).status_code == 200  # 全省通办
    outside = await changsha.get(path)
    assert outside.status_code == 403
    assert outside.json()["code"] == "forbidden_region"


async def test_patch_changes_contact_facts_within_own_regions_only(api: Api) -> None:
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    taiyuan = await api.new_client(Role.COUNTY, ("1401",))
    created = (await changzhi.post("/v1/recipients", json=recipient())).json()
    path = f"/v1/recipients/{created['recipient_id']}"
    changed = await changzhi.patch(path, json={"emergency_contacts": 2, "phone": None})
    assert changed.status_code == 200
    assert changed.json()["emergency_contacts"] == 2
    assert changed.json()["phone"] is None
    assert changed.json()["name"] == created["name"]
    assert (await taiyuan.patch(path, json={"emergency_contacts": 0})).status_code == 403
    assert (await changzhi.patch(path, json={})).status_code == 422
    assert (await changzhi.patch(path, json={"name": "x"})).status_code == 422


async def test_unknown_recipient_id_is_404_and_malformed_id_is_422(api: Api) -> None:
    admin = await api.new_client(Role.ADMIN)
    missing = await admin.get("/v1/recipients/01a20911-3a3f-7be8-853d-868634976169")
    assert missing.status_code == 404
    assert (await admin.get("/v1/recipients/not-a-uuid")).status_code == 422


async def test_racing_registrations_of_one_person_create_one_recipient(
    committing_api: Api, database: Database
) -> None:
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    number = id_number()
    responses = await asyncio.gather(
        *(county.post("/v1/recipients", json=recipient(number)) for _ in range(10))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 9 + [201]
    assert len({response.json()["recipient_id"] for response in responses}) == 1
    async with database.engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(Recipient))
        benefits = await connection.scalar(text("SELECT count(*) FROM benefits"))
    assert (count, benefits) == (1, 1)
