"""Reminders, statistics and risk signals: the engine's answers, region by region."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BenefitState
from app.domain.enums import Role
from app.domain.months import Month
from app.services.reporting import scans as reporting
from app.services.reporting import stats
from tests.conftest import Api
from tests.factories import benefit, certification, face, manual_details, recipient
from tests.factories import terminal_details as terminal
from tests.populations import STANDINGS

NDJSON = {"Accept": "application/x-ndjson"}
ON = "2026-06-10"


async def _register(county: httpx.AsyncClient, **overrides: Any) -> tuple[str, list[str]]:
    response = await county.post("/v1/recipients", json=recipient(**overrides))
    assert response.status_code == 201, response.text
    body = response.json()
    return body["recipient_id"], [b["benefit_id"] for b in body["benefits"]]


async def _certify(api: Api, client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    api.set_now(body["occurred_at"])
    response = await client.post("/v1/certifications", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _died(api: Api, county: httpx.AsyncClient, rid: str, on: str, now: str) -> None:
    api.set_now(now)
    report = {"recipient_id": rid, "reason": "death", "occurred_on": on, "reported_by": "family"}
    response = await county.post("/v1/stop-reports", json=report)
    assert response.status_code == 201, response.text


async def _reminders(client: httpx.AsyncClient, on: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/reminders", params={"agency_code": "1404", "on": on, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _reminder_population(api: Api) -> tuple[httpx.AsyncClient, dict[str, str]]:
    """due: 6-month cycle certified in January (valid through June); renewed: the same, but
    certified again in May; overdue: never certified (suspended from May); dead: stopped."""
    county = await api.new_client(Role.COUNTY, ("14",))
    mobile = await api.new_client(Role.MOBILE)
    api.set_now("2026-01-10T10:00:00+08:00")
    people = {
        "due": await _register(county),
        "renewed": await _register(county, phone=None),
        "overdue": await _register(county, benefits=[benefit(benefit_type="enterprise_pension")]),
        "dead": await _register(county),
        "elsewhere": await _register(county, benefits=[benefit(agency_code="140105")]),
    }
    for name in ("due", "renewed", "dead", "elsewhere"):
        await _certify(api, mobile, face(people[name][0], "2026-01-20T09:00:00+08:00"))
    await _certify(api, mobile, face(people["renewed"][0], "2026-05-20T09:00:00+08:00"))
    await _died(api, county, people["dead"][0], "2026-05-02", "2026-05-25T10:00:00+08:00")
    return county, {name: rid for name, (rid, _) in people.items()}


async def test_reminders_start_on_the_first_day_of_the_last_month_of_validity(api: Api) -> None:
    county, ids = await _reminder_population(api)
    last_month = await _reminders(county, "2026-06-01")
    by_recipient = {item["recipient_id"]: item for item in last_month["items"]}
    assert set(by_recipient) == {ids["due"], ids["overdue"]}
    due = by_recipient[ids["due"]]
    assert (due["status"], due["valid_through"], due["days_left"]) == ("eligible", "2026-06-30", 29)
    overdue = by_recipient[ids["overdue"]]
    assert (overdue["status"], overdue["reason"]) == ("suspended", "never_certified")
    assert (overdue["valid_through"], overdue["next_due"]) == (None, "2026-04-30")
    assert overdue["days_left"] == -32
    # The day before, June is not yet the last month left: only the suspended one.
    before = await _reminders(county, "2026-05-31")
    assert [item["recipient_id"] for item in before["items"]] == [ids["overdue"]]


async def test_reminder_phones_are_whole_only_for_admin_and_mobile_keys_list_none(
    api: Api,
) -> None:
    """Issue 15: a mobile key exported a province's phones from one listing (OWASP API3)."""
    county, _ = await _reminder_population(api)
    mobile = await api.new_client(Role.MOBILE)
    admin = await api.new_client(Role.ADMIN)
    phones = {}
    for name, client in (("county", county), ("admin", admin)):
        body = await _reminders(client, "2026-06-01")
        phones[name] = {item["phone"] for item in body["items"]}
    assert phones == {"county": {"138****0000"}, "admin": {"13800000000"}}
    for accept in ("application/json", "application/x-ndjson"):
        refused = await mobile.get(
            "/v1/reminders", params={"agency_code": "14"}, headers={"Accept": accept}
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role")
        assert "13800000000" not in refused.text


async def test_reminders_refuse_other_roles_regions_and_bad_cursors(api: Api) -> None:
    outsider = await api.new_client(Role.COUNTY, ("1401",))
    payment = await api.new_client(Role.PAYMENT)
    admin = await api.new_client(Role.ADMIN)
    region = await outsider.get("/v1/reminders", params={"agency_code": "1404"})
    assert (region.status_code, region.json()["code"]) == (403, "forbidden_region")
    role = await payment.get("/v1/reminders", params={"agency_code": "1404"})
    assert (role.status_code, role.json()["code"]) == (403, "forbidden_role")
    no_policy = await admin.get("/v1/reminders", params={"agency_code": "11"})
    assert (no_policy.status_code, no_policy.json()["code"]) == (422, "no_policy_for_agency")
    cursor = await admin.get("/v1/reminders", params={"agency_code": "14", "cursor": "x"})
    assert (cursor.status_code, cursor.json()["code"]) == (422, "invalid_cursor")
    too_many = await admin.get("/v1/reminders", params={"agency_code": "14", "limit": 501})
    assert too_many.status_code == 422


async def test_reminder_pages_split_anywhere_and_miss_nothing(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    api.set_now("2026-06-01T10:00:00+08:00")
    two = [benefit(benefit_type="enterprise_pension"), benefit(benefit_type="unemployment")]
    for benefits in ([benefit(benefit_type="enterprise_pension")], two, two, two):
        await _register(county, benefits=benefits)
    everything = await _reminders(county, ON, limit=500)
    assert len(everything["items"]) == 7
    assert everything["next_cursor"] is None
    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await _reminders(county, ON, **params)
        assert len(page["items"]) <= 2
        seen += [(item["recipient_id"], item["benefit_id"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [(item["recipient_id"], item["benefit_id"]) for item in everything["items"]]


async def test_a_page_stops_scanning_at_its_bound(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    api.set_now("2026-06-01T10:00:00+08:00")
    for _ in range(3):
        await _register(county, benefits=[benefit(benefit_type="enterprise_pension")])
    monkeypatch.setattr(reporting, "RECIPIENTS_PER_CHUNK", 1)
    monkeypatch.setattr(reporting, "MAX_SCANNED_PER_PAGE", 2)
    first = await _reminders(county, ON, limit=10)
    assert len(first["items"]) == 2
    second = await _reminders(county, ON, limit=10, cursor=first["next_cursor"])
    assert len(second["items"]) == 1


async def test_reminders_stream_as_ndjson(committing_api: Api) -> None:
    api = committing_api
    county, _ = await _reminder_population(api)
    admin = await api.new_client(Role.ADMIN)
    for client in (county, admin):
        paged = await _reminders(client, "2026-06-01", limit=500)
        response = await client.get(
            "/v1/reminders", params={"agency_code": "1404", "on": "2026-06-01"}, headers=NDJSON
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert lines == paged["items"]
        assert len(lines) == 2


# --- statistics -----------------------------------------------------------------------------


async def _stats_population(api: Api) -> tuple[httpx.AsyncClient, list[str]]:
    """Every standing: valid, due, suspended (never and overdue), stopped, awaiting, and a
    Hunan unemployment benefit that needs no certification."""
    county = await api.new_client(Role.COUNTY, ("14", "43"))
    mobile = await api.new_client(Role.MOBILE)
    api.set_now("2026-01-10T10:00:00+08:00")
    plans: list[dict[str, Any]] = [
        {"emergency_contacts": 2},  # 12-month cycle, certified in March: valid
        {},  # 6-month cycle, certified in January: due in June
        {"benefits": [benefit(benefit_type="enterprise_pension")]},  # never: suspended
        {"benefits": [benefit(benefit_type="unemployment", approved=False)]},  # awaiting
        {"benefits": [benefit(), benefit(benefit_type="enterprise_pension")]},  # deceased
        {"benefits": [benefit(agency_code="140105")]},  # Taiyuan
        {"emergency_contacts": 0},  # 3-month cycle from January: overdue, suspended
        {"benefits": [benefit(benefit_type="unemployment", agency_code="430102")]},
        {"benefits": [benefit(benefit_type="resident_pension", agency_code="430102")]},
    ]
    ids = [(await _register(county, **plan))[0] for plan in plans]
    for index in (0, 4, 5):
        await _certify(api, mobile, face(ids[index], "2026-03-15T09:00:00+08:00"))
    for index in (1, 6):
        await _certify(api, mobile, face(ids[index], "2026-01-20T09:00:00+08:00"))
    await _died(api, county, ids[4], "2026-05-02", "2026-06-10T10:00:00+08:00")
    return county, ids


def _standing(answer: dict[str, Any], on: str) -> str:
    """docs/reporting.md: eligible splits into due (next due before the first day of the month
    after the lead time, one month in both policies) and valid."""
    if answer["status"] != "eligible":
        return str(answer["status"])
    bound = (Month.of(date.fromisoformat(on)) + 1).first_day.isoformat()
    return "due" if answer["next_due"] and answer["next_due"] < bound else "valid"


async def _answers(client: httpx.AsyncClient, ids: list[str], prefix: str) -> list[dict[str, Any]]:
    answers = []
    for rid in ids:
        response = await client.get(f"/v1/recipients/{rid}/eligibility", params={"on": ON})
        assert response.status_code == 200, response.text
        answers += [b for b in response.json()["benefits"] if b["agency_code"].startswith(prefix)]
    return answers


async def _stats(client: httpx.AsyncClient, prefix: str) -> dict[str, Any]:
    response = await client.get("/v1/stats", params={"agency_code": prefix, "on": ON})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_stats_agree_with_the_single_answers_for_every_status(api: Api) -> None:
    county, ids = await _stats_population(api)
    seen: set[str] = set()
    for prefix in ("1404", "14", "43"):
        answers = await _answers(await api.new_client(Role.PAYMENT), ids, prefix)
        expected = Counter(_standing(answer, ON) for answer in answers)
        seen |= set(expected)
        stats = await _stats(county, prefix)
        assert {field: stats[field] for field in STANDINGS.values()} == {
            field: expected[standing] for standing, field in STANDINGS.items()
        }
        assert stats["in_scope"] == len(answers) == stats["evaluated"]
        assert stats["from_sweep"] == 0
        never = [answer for answer in answers if answer["last_certification"] is None]
        assert stats["never_certified"] == len(never)
    assert seen == set(STANDINGS)


async def test_stats_count_channels_and_first_certification_progress(api: Api) -> None:
    county, _ = await _stats_population(api)
    stats = await _stats(county, "1404")
    assert stats["policy"] == "shanxi-2026"
    assert stats["channels_since"] == "2025-07-01"
    assert stats["by_channel"]["face"] == 4
    assert sum(stats["by_channel"].values()) == 4
    windows = {w["benefit_types"][0]: w for w in stats["first_certification"]}
    pensions = windows["enterprise_pension"]
    assert (pensions["in_scope"], pensions["certified"], pensions["remaining"]) == (2, 1, 1)
    assert pensions["deadline"] == "2026-04-30"
    work_injury = windows["illness_disability_allowance"]
    assert (work_injury["in_scope"], work_injury["certified"]) == (5, 4)


async def test_stats_read_the_sweep_snapshot_and_decide_only_what_it_lacks(
    api: Api, session: AsyncSession
) -> None:
    county, ids = await _stats_population(api)
    fresh = await _stats(county, "14")
    answers = await _answers(await api.new_client(Role.PAYMENT), ids, "14")
    for answer in answers:
        session.add(
            BenefitState(
                benefit_id=uuid.UUID(answer["benefit_id"]),
                status=answer["status"],
                reason=answer["reason"],
                payable=answer["payable"],
                valid_through=answer["valid_through"]
                and date.fromisoformat(answer["valid_through"]),
                standing=_standing(answer, ON),
                swept_on=date.fromisoformat(ON),
            )
        )
    await session.flush()
    swept = await _stats(county, "14")
    assert (swept["from_sweep"], swept["evaluated"]) == (len(answers), 0)
    unchanged = ("from_sweep", "evaluated")
    assert {k: v for k, v in swept.items() if k not in unchanged} == {
        k: v for k, v in fresh.items() if k not in unchanged
    }
    first = uuid.UUID(answers[0]["benefit_id"])
    await session.execute(delete(BenefitState).where(BenefitState.benefit_id == first))
    partly = await _stats(county, "14")
    assert (partly["from_sweep"], partly["evaluated"]) == (len(answers) - 1, 1)
    assert partly["in_scope"] == fresh["in_scope"]


async def test_stats_refuse_to_evaluate_a_whole_province_without_a_sweep(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    county, _ = await _stats_population(api)
    monkeypatch.setattr(stats, "STATS_MAX_EVALUATED", 3)
    response = await county.get("/v1/stats", params={"agency_code": "14", "on": ON})
    assert (response.status_code, response.json()["code"]) == (409, "sweep_required")
    mobile = await api.new_client(Role.MOBILE)
    denied = await mobile.get("/v1/stats", params={"agency_code": "14"})
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden_role")


# --- risk signals ---------------------------------------------------------------------------


async def test_risk_signals_find_shared_devices_repeated_failures_and_the_dead(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("14",))
    mobile = await api.new_client(Role.MOBILE)
    api.set_now("2026-06-01T10:00:00+08:00")
    shared = [(await _register(county))[0] for _ in range(3)]
    outside = (await _register(county, benefits=[benefit(agency_code="140105")]))[0]
    failing = (await _register(county))[0]
    dead = (await _register(county))[0]
    shared_ids = []
    for rid in [*shared, outside]:
        posted = await _certify(
            api, mobile, face(rid, "2026-06-08T09:00:00+08:00", device_id="shared-phone")
        )
        if rid != outside:
            shared_ids.append(posted["certification_id"])
    failed_ids = []
    for minute in range(3):
        body = face(failing, f"2026-06-09T09:0{minute}:00+08:00", device_id="own", similarity=0.5)
        failed_ids.append((await _certify(api, mobile, body))["certification_id"])
    await _died(api, county, dead, "2026-06-01", "2026-06-05T10:00:00+08:00")
    after_death = await _certify(api, mobile, face(dead, "2026-06-09T10:00:00+08:00"))
    assert "after_recorded_death" in after_death["warnings"]
    api.set_now("2026-06-10T10:00:00+08:00")
    await county.post(
        "/v1/certifications", json=certification(shared[0], "manual", manual_details())
    )
    await county.post(
        "/v1/certifications", json=certification(shared[1], "grassroots_terminal", terminal())
    )

    response = await county.get(
        "/v1/risk-signals", params={"agency_code": "1404", "since": "2026-06-04"}
    )
    assert response.status_code == 200, response.text
    signals = response.json()
    devices = {signal["key"]: signal for signal in signals["devices"]}
    assert set(devices) == {"shared-phone"}
    assert devices["shared-phone"]["recipients"] == 3
    assert sorted(devices["shared-phone"]["certification_ids"]) == sorted(shared_ids)
    [failures] = signals["repeated_failures"]
    assert (failures["recipient_id"], failures["failed_attempts"]) == (failing, 3)
    assert sorted(failures["certification_ids"]) == sorted(failed_ids)
    [death] = signals["after_death"]
    assert (death["recipient_id"], death["certification_id"]) == (
        dead,
        after_death["certification_id"],
    )
    assert signals["operators"] == signals["service_points"] == []

    busy = await county.get(
        "/v1/risk-signals",
        params={
            "agency_code": "1404",
            "since": "2026-06-10",
            "operator_min_per_day": 1,
            "service_point_min_per_day": 1,
        },
    )
    assert busy.status_code == 200, busy.text
    assert {s["key"] for s in busy.json()["operators"]} == {"op-7", "staff-3"}
    assert [s["key"] for s in busy.json()["service_points"]] == ["东街社区服务站"]
    assert busy.json()["after_death"] == []


async def test_risk_signals_refuse_a_future_window_and_other_roles(api: Api) -> None:
    api.set_now("2026-06-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    payment = await api.new_client(Role.PAYMENT)
    future = await county.get(
        "/v1/risk-signals", params={"agency_code": "1404", "since": "2026-06-11"}
    )
    assert (future.status_code, future.json()["code"]) == (422, "since_in_future")
    denied = await payment.get("/v1/risk-signals", params={"agency_code": "1404"})
    assert denied.status_code == 403
    outside = await county.get("/v1/risk-signals", params={"agency_code": "1401"})
    assert (outside.status_code, outside.json()["code"]) == (403, "forbidden_region")
