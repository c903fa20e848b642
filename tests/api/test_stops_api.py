"""Stop reports, verification cases, resumption steps, moratoria and post-checks over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from app.domain.enums import Role
from tests.conftest import Api
from tests.factories import benefit, face, hunan_window, recipient


async def _person(county: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await county.post("/v1/recipients", json=recipient(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _registered_in_changzhi(api: Api, now: str) -> tuple[httpx.AsyncClient, dict[str, Any]]:
    """On ``now``: a Changzhi (1404) county's client and a recipient it registered."""
    api.set_now(now)
    county = await api.new_client(Role.COUNTY, ("1404",))
    return county, await _person(county)


def _stop(recipient_id: str, reason: str, occurred_on: str, **extra: Any) -> dict[str, Any]:
    return {
        "recipient_id": recipient_id,
        "reason": reason,
        "occurred_on": occurred_on,
        "reported_by": "family",
        **extra,
    }


async def _reader(api: Api) -> httpx.AsyncClient:
    """Eligibility is read by the payment system (and mobile apps), not by counties."""
    return await api.new_client(Role.PAYMENT)


async def _eligibility(client: httpx.AsyncClient, recipient_id: str, on: str) -> dict[str, Any]:
    response = await client.get(f"/v1/recipients/{recipient_id}/eligibility", params={"on": on})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["benefits"][0]
    return answer


async def test_a_stop_report_carries_its_working_day_deadline_and_lateness(api: Api) -> None:
    county, person = await _registered_in_changzhi(api, "2026-03-20T10:00:00+08:00")
    # Re-employment on 2026-02-10: the 20th working day after it, across the Spring Festival
    # holiday and its swapped Saturdays, is 2026-03-16; reported 03-20, so late.
    response = await county.post(
        "/v1/stop-reports",
        json=_stop(
            person["recipient_id"],
            "re_employment",
            "2026-02-10",
            reported_by="employer",
            benefit_id=person["benefits"][0]["benefit_id"],
        ),
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["deadline"], report["late"], report["calendar"]) == (
        "2026-03-16",
        True,
        "official",
    )
    assert report["case_id"] is None


async def test_a_report_within_the_deadline_is_not_late_and_unpublished_years_say_so(
    api: Api,
) -> None:
    county, person = await _registered_in_changzhi(api, "2027-01-05T10:00:00+08:00")
    report = (
        await county.post(
            "/v1/stop-reports", json=_stop(person["recipient_id"], "imprisonment", "2026-12-20")
        )
    ).json()
    # 2027 has no arrangement: 2027-01-01 (元旦) is still off by law, so the 20th working day
    # after 2026-12-20 is 01-18, not 01-15, and the deadline says it is provisional.
    assert (report["deadline"], report["late"]) == ("2027-01-18", False)
    assert report["calendar"] == "provisional"


async def test_stop_reports_are_recorded_once_per_source_ref(api: Api) -> None:
    county, person = await _registered_in_changzhi(api, "2026-06-10T10:00:00+08:00")
    body = _stop(person["recipient_id"], "death", "2026-06-01", source_ref="death-1")
    first = await county.post("/v1/stop-reports", json=body)
    again = await county.post("/v1/stop-reports", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["report_id"] == again.json()["report_id"]
    changed = await county.post("/v1/stop-reports", json={**body, "occurred_on": "2026-06-02"})
    assert changed.status_code == 409
    assert changed.json()["code"] == "idempotency_conflict"


async def test_stop_report_input_rules(api: Api) -> None:
    api.set_now("2026-06-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    outsider = await api.new_client(Role.COUNTY, ("1401",))
    exchange = await api.new_client(Role.DATA_EXCHANGE, ("14",))
    person = await _person(county)
    rid, bid = person["recipient_id"], person["benefits"][0]["benefit_id"]
    future = await county.post("/v1/stop-reports", json=_stop(rid, "death", "2026-06-11"))
    assert future.json()["code"] == "occurred_in_future"
    person_level = await county.post(
        "/v1/stop-reports", json=_stop(rid, "death", "2026-06-01", benefit_id=bid)
    )
    assert person_level.status_code == 422
    elsewhere = await outsider.post("/v1/stop-reports", json=_stop(rid, "death", "2026-06-01"))
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "forbidden_region")
    confirmed = await exchange.post(
        "/v1/stop-reports", json=_stop(rid, "death", "2026-06-01", reported_by="data_match")
    )
    assert (confirmed.status_code, confirmed.json()["code"]) == (403, "forbidden_role")
    suspected = await exchange.post(
        "/v1/stop-reports",
        json=_stop(rid, "death", "2026-06-01", reported_by="data_match", suspected=True),
    )
    assert suspected.status_code == 201


async def test_a_death_report_stops_every_benefit_and_lists_overpaid_months(api: Api) -> None:
    api.set_now("2026-03-15T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    person = await _person(
        county,
        benefits=[benefit(), benefit(benefit_type="enterprise_pension", external_ref="P-1")],
    )
    rid = person["recipient_id"]
    assert (
        await mobile.post("/v1/certifications", json=face(rid, "2026-03-15T09:00:00+08:00"))
    ).status_code == 201
    # Died in May, reported in July: June and July were paid after the death.
    api.set_now("2026-07-20T10:00:00+08:00")
    report = await county.post("/v1/stop-reports", json=_stop(rid, "death", "2026-05-18"))
    assert report.status_code == 201
    for effect in report.json()["effects"]:
        assert (effect["status"], effect["reason"], effect["payable"]) == (
            "stopped",
            "deceased",
            False,
        )
        assert effect["overpaid_months"] == ["2026-06", "2026-07"]
    may = await _eligibility(await _reader(api), rid, "2026-05-31")
    assert may["payable"] is True


async def test_a_suspected_death_suspends_opens_a_case_and_never_stops_before_resolution(
    api: Api,
) -> None:
    api.set_now("2026-03-15T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    exchange = await api.new_client(Role.DATA_EXCHANGE, ("1404",))
    person = await _person(county)
    rid = person["recipient_id"]
    await mobile.post("/v1/certifications", json=face(rid, "2026-03-15T09:00:00+08:00"))
    api.set_now("2026-05-10T10:00:00+08:00")
    report = (
        await exchange.post(
            "/v1/stop-reports",
            json=_stop(rid, "death", "2026-05-02", reported_by="data_match", suspected=True),
        )
    ).json()
    assert report["case_id"] is not None
    effect = report["effects"][0]
    assert (effect["status"], effect["reason"]) == ("suspended", "verification_required")

    cases = (await county.get("/v1/verification-cases", params={"agency_code": "1404"})).json()
    assert [case["case_id"] for case in cases["items"]] == [report["case_id"]]
    assert cases["items"][0]["status"] == "open"
    path = f"/v1/verification-cases/{report['case_id']}"
    contact = await county.post(
        f"{path}/contacts",
        json={"method": "phone", "outcome": "reached_recipient", "note": "本人接听"},
    )
    assert contact.status_code == 201
    api.set_now("2026-06-05T10:00:00+08:00")
    resolved = await county.post(f"{path}/resolution", json={"outcome": "confirmed_eligible"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert len(resolved.json()["contacts"]) == 1
    after = resolved.json()["effects"][0]
    assert (after["status"], after["payable"]) == ("eligible", True)
    assert after["back_pay_months"] == ["2026-05"]
    again = await county.post(f"{path}/resolution", json={"outcome": "confirmed_eligible"})
    assert (again.status_code, again.json()["code"]) == (409, "already_resolved")


async def test_a_confirmed_ineligible_case_stops_with_overpaid_months(api: Api) -> None:
    county, person = await _registered_in_changzhi(api, "2026-03-15T10:00:00+08:00")
    mobile = await api.new_client(Role.MOBILE)
    rid = person["recipient_id"]
    await mobile.post("/v1/certifications", json=face(rid, "2026-03-15T09:00:00+08:00"))
    report = (
        await county.post(
            "/v1/stop-reports",
            json=_stop(rid, "death", "2026-03-01", reported_by="agency", suspected=True),
        )
    ).json()
    api.set_now("2026-04-20T10:00:00+08:00")
    resolved = await county.post(
        f"/v1/verification-cases/{report['case_id']}/resolution",
        json={"outcome": "confirmed_ineligible", "effective_on": "2026-03-01"},
    )
    assert resolved.status_code == 200, resolved.text
    effect = resolved.json()["effects"][0]
    assert (effect["status"], effect["reason"]) == ("stopped", "deceased")
    missing_date = await county.post(
        f"/v1/verification-cases/{report['case_id']}/resolution",
        json={"outcome": "confirmed_ineligible"},
    )
    assert missing_date.status_code == 422


async def test_cases_stay_within_the_clients_regions(api: Api) -> None:
    api.set_now("2026-05-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    taiyuan = await api.new_client(Role.COUNTY, ("1401",))
    person = await _person(county)
    report = (
        await county.post(
            "/v1/stop-reports",
            json=_stop(person["recipient_id"], "death", "2026-05-02", suspected=True),
        )
    ).json()
    listed = await taiyuan.get("/v1/verification-cases", params={"agency_code": "1404"})
    assert (listed.status_code, listed.json()["code"]) == (403, "forbidden_region")
    own = await taiyuan.get("/v1/verification-cases")
    assert own.json()["items"] == []
    read = await taiyuan.get(f"/v1/verification-cases/{report['case_id']}")
    assert read.status_code == 403


async def test_imprisonment_sets_the_flag_and_blocks_self_service(api: Api) -> None:
    county, person = await _registered_in_changzhi(api, "2026-03-15T10:00:00+08:00")
    mobile = await api.new_client(Role.MOBILE)
    rid = person["recipient_id"]
    await mobile.post("/v1/certifications", json=face(rid, "2026-03-15T09:00:00+08:00"))
    api.set_now("2026-05-10T10:00:00+08:00")
    report = (
        await county.post("/v1/stop-reports", json=_stop(rid, "imprisonment", "2026-04-02"))
    ).json()
    effect = report["effects"][0]
    assert (effect["status"], effect["reason"], effect["incarcerated"]) == (
        "suspended",
        "incarcerated",
        True,
    )
    blocked = await mobile.post("/v1/certifications", json=face(rid, "2026-05-10T09:00:00+08:00"))
    assert (blocked.status_code, blocked.json()["code"]) == (422, "documents_required")
    release = await county.post(
        "/v1/stop-reports",
        json=_stop(rid, "release", "2026-05-08", documents=["release-cert-123"]),
    )
    assert release.json()["effects"][0]["incarcerated"] is False
    assert (
        await mobile.post("/v1/certifications", json=face(rid, "2026-05-10T09:30:00+08:00"))
    ).status_code == 201


async def test_a_certification_after_a_recorded_death_never_counts_and_opens_a_fraud_case(
    api: Api,
) -> None:
    county, person = await _registered_in_changzhi(api, "2026-05-10T10:00:00+08:00")
    mobile = await api.new_client(Role.MOBILE)
    rid = person["recipient_id"]
    await county.post("/v1/stop-reports", json=_stop(rid, "death", "2026-05-01"))
    posted = await mobile.post("/v1/certifications", json=face(rid, "2026-05-09T09:00:00+08:00"))
    assert posted.status_code == 201
    assert posted.json()["counted"] is False
    assert "after_recorded_death" in posted.json()["warnings"]
    cases = (await county.get("/v1/verification-cases", params={"status": "open"})).json()["items"]
    assert [case["reason"] for case in cases] == ["certified_after_death"]
    assert cases[0]["certification_id"] == posted.json()["certification_id"]


async def test_a_moratorium_keeps_overdue_benefits_payable_and_names_itself(api: Api) -> None:
    api.set_now("2026-03-15T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    admin = await api.new_client(Role.ADMIN)
    mobile = await api.new_client(Role.MOBILE)
    person = await _person(county)
    rid = person["recipient_id"]
    await mobile.post("/v1/certifications", json=face(rid, "2026-03-15T09:00:00+08:00"))
    assert (await _eligibility(await _reader(api), rid, "2026-09-10"))["reason"] == "overdue"
    body = {
        "agency_code": "1404",
        "benefit_types": ["work_injury_dependent"],
        "starts_on": "2026-09-01",
        "ends_on": "2026-09-30",
        "reason": "face service outage",
    }
    assert (await county.post("/v1/moratoria", json=body)).status_code == 403
    created = await admin.post("/v1/moratoria", json=body)
    assert created.status_code == 201
    answer = await _eligibility(await _reader(api), rid, "2026-09-10")
    assert (answer["payable"], answer["reason"]) == (True, "moratorium")
    assert answer["moratorium_id"] == created.json()["moratorium_id"]
    assert (await _eligibility(await _reader(api), rid, "2026-10-10"))["reason"] == "overdue"
    refused = await county.get("/v1/moratoria", params={"agency_code": "140402"})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role")
    listed = (await admin.get("/v1/moratoria", params={"agency_code": "140402"})).json()
    assert [m["reason"] for m in listed] == ["face service outage"]
    backwards = await admin.post("/v1/moratoria", json={**body, "ends_on": "2026-08-01"})
    assert backwards.status_code == 422


async def test_a_commitment_unlocks_a_hunan_resumption_after_two_years(api: Api) -> None:
    """Certified 2024-03, withheld from Hunan's enforcement (2026-06), back 2027-08: 14 months
    suspended and 41 since the last certification, so 告知承诺 comes first; then back pay."""
    api.set_now("2024-03-01T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("4301",))
    person = await _person(
        county, benefits=[benefit(agency_code="430102", benefit_type="enterprise_pension")]
    )
    rid = person["recipient_id"]
    api.set_now("2024-03-10T10:00:00+08:00")
    first = await county.post(
        "/v1/certifications", json=hunan_window(rid, "2024-03-10T09:00:00+08:00", "w-1")
    )
    assert first.status_code == 201, first.text
    api.set_now("2027-08-10T10:00:00+08:00")
    back = await county.post(
        "/v1/certifications", json=hunan_window(rid, "2027-08-10T09:00:00+08:00", "w-2")
    )
    assert back.status_code == 201, back.text
    waiting = await _eligibility(await _reader(api), rid, "2027-08-10")
    assert (waiting["status"], waiting["reason"], waiting["payable"]) == (
        "suspended",
        "commitment_required",
        False,
    )
    assert waiting["resumption"] == {"mode": "commitment_required"}
    step = await county.post(f"/v1/recipients/{rid}/commitments", json={"signed_on": "2027-08-10"})
    assert step.status_code == 201, step.text
    assert step.json()["kind"] == "commitment_required"
    resumed = step.json()["effects"][0]
    assert (resumed["status"], resumed["payable"]) == ("eligible", True)
    expected = [f"2026-{m:02d}" for m in range(6, 13)] + [f"2027-{m:02d}" for m in range(1, 8)]
    assert resumed["back_pay_months"] == expected


async def test_resumption_steps_are_refused_outside_the_region_or_in_the_future(api: Api) -> None:
    api.set_now("2026-06-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    taiyuan = await api.new_client(Role.COUNTY, ("1401",))
    person = await _person(county)
    rid = person["recipient_id"]
    outside = await taiyuan.post(
        f"/v1/recipients/{rid}/continuations",
        json={"decided_on": "2026-06-01", "decision_ref": "D-1"},
    )
    assert (outside.status_code, outside.json()["code"]) == (403, "forbidden_region")
    future = await county.post(
        f"/v1/recipients/{rid}/employer-verifications",
        json={"employer": "长治钢铁", "verified_on": "2026-07-01"},
    )
    assert (future.status_code, future.json()["code"]) == (422, "occurred_in_future")
    ok = await county.post(
        f"/v1/recipients/{rid}/employer-verifications",
        json={"employer": "长治钢铁", "verified_on": "2026-06-01"},
    )
    assert ok.status_code == 201
    assert ok.json()["employer"] == "长治钢铁"


async def test_a_started_pension_report_stops_the_unemployment_benefit_never_the_pension(
    api: Api,
) -> None:
    """失业保险条例 第十五条 "享受基本养老保险待遇的" stops unemployment benefit: reported with no
    benefit named on 2026-06-15 for someone drawing both, the unemployment benefit is stopped
    from July and the pension stays payable; a report that names the pension, or a recipient
    with nothing the reason ends, is refused with `stop_reason_not_for_benefit`."""
    api.set_now("2026-06-20T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    person = await _person(
        county,
        benefits=[
            benefit(benefit_type="enterprise_pension", external_ref="PAY-1"),
            benefit(benefit_type="unemployment", external_ref="PAY-2"),
        ],
    )
    rid = person["recipient_id"]
    kinds = {b["benefit_type"]: b["benefit_id"] for b in person["benefits"]}
    mobile = await api.new_client(Role.MOBILE)
    certified = await mobile.post("/v1/certifications", json=face(rid, "2026-06-10T10:00:00+08:00"))
    assert certified.status_code == 201, certified.text

    named = await county.post(
        "/v1/stop-reports",
        json=_stop(rid, "started_pension", "2026-06-15", benefit_id=kinds["enterprise_pension"]),
    )
    assert (named.status_code, named.json()["code"]) == (422, "stop_reason_not_for_benefit")
    reported = await county.post(
        "/v1/stop-reports", json=_stop(rid, "started_pension", "2026-06-15")
    )
    assert reported.status_code == 201, reported.text

    payment = await api.new_client(Role.PAYMENT)
    answers = (
        await payment.get(f"/v1/recipients/{rid}/eligibility", params={"on": "2026-07-01"})
    ).json()["benefits"]
    by_type = {answer["benefit_type"]: answer for answer in answers}
    assert (by_type["unemployment"]["status"], by_type["unemployment"]["reason"]) == (
        "stopped",
        "started_pension",
    )
    assert by_type["enterprise_pension"]["payable"] is True

    pensioner = await _person(
        county,
        benefits=[benefit(benefit_type="enterprise_pension", external_ref="PAY-3")],
    )
    nothing = await county.post(
        "/v1/stop-reports", json=_stop(pensioner["recipient_id"], "started_pension", "2026-06-15")
    )
    assert (nothing.status_code, nothing.json()["code"]) == (422, "stop_reason_not_for_benefit")
