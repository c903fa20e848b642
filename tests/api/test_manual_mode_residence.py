"""Manual modes for residents elsewhere (issue 16 item 9; docs/policy.md §4.2), on both
databases.

Shanxi, 二(二)2 人工认证: "③居住在山西省外的享受待遇人员，APP 自助认证困难的，可通过“民生山西”APP
“省外居住人员人工认证”功能，办理线上“人工认证”。" — the online review is for those living outside
Shanxi: for a recipient registered in the province it is refused (422 `manual_mode_residence`,
nothing stored). "④境外居住但无法使用 APP 自助“刷脸”认证的人员……持定居地驻外使领馆出具的
《在境外居住人员领取养老金资格审核表》（原件）……办理“人工认证”" — the embassy's form is itself
evidence of life abroad, so for a recipient registered otherwise it counts, with the warning
`residence_mismatch` that risk signals list, as the consular app's does. Hunan's notice names
no such modes: both are accepted with the warning.

Dates: registered and certified on 2026-06-10 (Beijing); risk signals asked since 2026-06-01.
"""

from __future__ import annotations

from typing import Any

import httpx

from app.domain.enums import Role
from tests.conftest import Api
from tests.factories import benefit, certification, id_number, manual_details, recipient

AT = "2026-06-10T09:00:00+08:00"


async def _person(county: httpx.AsyncClient, residence: str, region: str = "140402") -> str:
    body = recipient(id_number(region), residence=residence, benefits=[benefit(agency_code=region)])
    created = await county.post("/v1/recipients", json=body)
    assert created.status_code == 201, created.text
    rid: str = created.json()["recipient_id"]
    return rid


def _manual(rid: str, mode: str, office: str = "140402") -> dict[str, Any]:
    return certification(rid, "manual", manual_details(mode, office=office), occurred_at=AT)


async def _shanxi_county_and_payment(api: Api) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """On AT: a client of Shanxi's counties and one of the payment system."""
    api.set_now(AT)
    return await api.new_client(Role.COUNTY, ("14",)), await api.new_client(Role.PAYMENT)


async def _payable(payment: httpx.AsyncClient, rid: str) -> bool:
    answer = await payment.get(f"/v1/recipients/{rid}/eligibility", params={"on": "2026-06-15"})
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["benefits"][0]["payable"])


async def test_shanxi_refuses_the_out_of_province_online_review_for_a_resident_of_shanxi(
    api: Api,
) -> None:
    county, payment = await _shanxi_county_and_payment(api)
    resident = await _person(county, "in_province")
    refused = await county.post(
        "/v1/certifications", json=_manual(resident, "out_of_province_online")
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "manual_mode_residence"
    assert await _payable(payment, resident) is False  # nothing was stored

    elsewhere = await _person(county, "out_of_province")
    accepted = await county.post(
        "/v1/certifications", json=_manual(elsewhere, "out_of_province_online")
    )
    assert accepted.status_code == 201, accepted.text
    assert "residence_mismatch" not in accepted.json()["warnings"]
    assert await _payable(payment, elsewhere) is True


async def test_an_embassy_form_for_someone_registered_in_shanxi_counts_with_a_warning_and_a_signal(
    api: Api,
) -> None:
    county, payment = await _shanxi_county_and_payment(api)
    resident = await _person(county, "in_province")
    abroad = await _person(county, "overseas")
    warned = await county.post(
        "/v1/certifications", json=_manual(resident, "overseas_embassy_form")
    )
    assert warned.status_code == 201, warned.text
    assert "residence_mismatch" in warned.json()["warnings"]
    clean = await county.post("/v1/certifications", json=_manual(abroad, "overseas_embassy_form"))
    assert clean.status_code == 201, clean.text
    assert "residence_mismatch" not in clean.json()["warnings"]
    assert await _payable(payment, resident) is True

    signals = await county.get(
        "/v1/risk-signals", params={"agency_code": "1404", "since": "2026-06-01"}
    )
    assert signals.status_code == 200, signals.text
    listed = signals.json()["residence_mismatches"]
    assert [
        (s["recipient_id"], s["certification_id"], s["channel"], s["mode"]) for s in listed
    ] == [(resident, warned.json()["certification_id"], "manual", "overseas_embassy_form")]


async def test_hunan_accepts_both_modes_for_a_resident_with_the_warning(api: Api) -> None:
    api.set_now(AT)
    county = await api.new_client(Role.COUNTY, ("43",))
    resident = await _person(county, "in_province", region="430102")
    for mode in ("out_of_province_online", "overseas_embassy_form"):
        posted = await county.post("/v1/certifications", json=_manual(resident, mode, "430102"))
        assert posted.status_code == 201, posted.text
        assert "residence_mismatch" in posted.json()["warnings"]
