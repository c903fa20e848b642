"""Statistics count exactly what the engine answers, recipient by recipient, on a generated
population: with no sweep (the engine decides every benefit for the request) and after the
sweep of the day (every standing read from `benefit_states`).

The population (seeded) lives in Changzhi (1404), Taiyuan (1401) and Changsha (4301), under
both policies, with benefits started on either side of each first-certification window's
coverage start (Shanxi 2026-01-01, Hunan 2026-04-20), certifications made minutes either side
of midnight at month ends (Beijing), some revoked or failed, and deaths, imprisonments and
suspected deaths reported. Statistics are asked for on 2026-07-31 and 2026-08-01: a 6-month
certification of February is valid through 2026-07-31 (due on the 31st, suspended on the 1st),
one of March through 2026-08-31 (valid on the 31st, due on the 1st, "提前1个月督促").

The oracle is the single-recipient answer (GET /v1/recipients/{id}/eligibility): its status,
and its next_due against the first day of the month after the lead time, for the standings
and for who is reminded with which next due date; its last_certification for never_certified
and each window's certified count. Deaths are
dated after the person's last certification: a certification after a confirmed death is the
one case where the certification columns and the engine differ (docs/reporting.md).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from app.db.engine import create_sessionmaker
from app.domain.enums import Role
from app.domain.months import Month
from app.domain.policy import load_policies
from app.services.suspension.sweep import sweep
from tests import populations
from tests.conftest import Api, Database
from tests.factories import face, id_number, recipient
from tests.populations import STANDINGS, Post

POLICIES = load_policies()
DAYS = (date(2026, 7, 31), date(2026, 8, 1))
PREFIXES = ("14", "1404", "1401", "43")
COUNTIES = ("140402", "140105", "430102")
STARTS = ("2019-05-01", "2025-12-31", "2026-01-01", "2026-04-19", "2026-04-20", "2026-06-01")
# At and minutes either side of midnight at month ends and at the windows' coverage starts
# (Beijing).
INSTANTS = (
    "2025-08-31T23:55:00+08:00",
    "2025-09-01T00:05:00+08:00",
    "2025-12-31T23:50:00+08:00",
    "2026-01-01T00:00:00+08:00",
    "2026-01-01T00:10:00+08:00",
    "2026-01-31T23:59:00+08:00",
    "2026-02-01T00:01:00+08:00",
    "2026-02-28T23:30:00+08:00",
    "2026-03-01T00:30:00+08:00",
    "2026-03-15T09:00:00+08:00",
    "2026-04-19T23:59:00+08:00",
    "2026-04-20T00:01:00+08:00",
    "2026-05-31T23:59:00+08:00",
    "2026-06-01T00:05:00+08:00",
    "2026-06-10T09:00:00+08:00",
    "2026-07-31T23:30:00+08:00",
    "2026-08-01T00:00:00+08:00",
    "2026-08-01T00:30:00+08:00",
)


@dataclass
class Person:
    recipient_id: str
    benefits: dict[str, dict[str, Any]] = field(default_factory=dict)  # by benefit id


async def _population(api: Api, seed: int = 17, size: int = 90) -> list[Person]:
    """Registered, then certified and reported on in time order, as the API takes them."""
    rng = random.Random(seed)
    admin = await api.new_client(Role.ADMIN)
    mobile = await api.new_client(Role.MOBILE)
    api.set_now("2025-12-01T10:00:00+08:00")
    people: list[Person] = []
    events: list[tuple[str, Post]] = []
    for n in range(size):
        county = COUNTIES[n % len(COUNTIES)]
        bodies = [
            populations.random_benefit(
                rng,
                kind,
                county,
                f"S-{n}-{kind[:4]}",
                starts=STARTS,
                approved_above=0.2,
                funeral_flags=(True, False),
            )
            for kind in populations.random_kinds(rng)
        ]
        created = await admin.post(
            "/v1/recipients",
            json=recipient(
                id_number(county), emergency_contacts=rng.choice((0, 1, 2)), benefits=bodies
            ),
        )
        assert created.status_code == 201, created.text
        person = Person(created.json()["recipient_id"])
        for stored in created.json()["benefits"]:
            person.benefits[stored["benefit_id"]] = stored
        people.append(person)
        made = sorted(rng.sample(INSTANTS, rng.choice((0, 1, 1, 2, 3))))
        for instant in made:
            events.append((instant, _certify(mobile, admin, person.recipient_id, instant, rng)))
        last = made[-1][:10] if made else "2026-01-01"
        roll = rng.random()
        if roll < 0.08 and last < "2026-07-20":
            events.append(
                ("2026-07-25T10:00:00+08:00", _stop(admin, person, "death", "2026-07-20"))
            )
        elif roll < 0.14:
            events.append(
                ("2026-06-20T10:00:00+08:00", _stop(admin, person, "imprisonment", "2026-06-01"))
            )
        elif roll < 0.20 and last < "2026-07-10":
            suspected = _stop(admin, person, "death", "2026-07-10", suspected=True)
            events.append(("2026-07-12T10:00:00+08:00", suspected))
    await populations.post_in_time_order(api, events, after=timedelta(minutes=5))
    api.set_now("2026-08-01T12:00:00+08:00")
    return people


def _certify(
    mobile: httpx.AsyncClient, admin: httpx.AsyncClient, rid: str, at: str, rng: random.Random
) -> Post:
    roll = rng.random()

    async def post() -> httpx.Response:
        body = face(rid, at)
        if roll < 0.08:
            body["result"] = "failed"
        answer = await mobile.post("/v1/certifications", json=body)
        if 0.08 <= roll < 0.16:
            await populations.revoke_if_made(admin, answer)
        return answer

    return post


def _stop(
    admin: httpx.AsyncClient, person: Person, reason: str, on: str, suspected: bool = False
) -> Post:
    return populations.stop_report(admin, person.recipient_id, reason, on, suspected)


async def _answers(client: httpx.AsyncClient, people: list[Person], on: date) -> list[Any]:
    """Every benefit's single answer on ``on``, with the benefit's registration beside it."""
    answers = []
    for person in people:
        response = await client.get(
            f"/v1/recipients/{person.recipient_id}/eligibility", params={"on": on.isoformat()}
        )
        assert response.status_code == 200, response.text
        for answer in response.json()["benefits"]:
            answers.append((answer, person.benefits[answer["benefit_id"]]))
    return answers


def _standing(answer: dict[str, Any], on: date, lead_months: int) -> str:
    """docs/reporting.md: eligible splits into due (next due before the first day of the month
    ``lead_months`` after on's) and valid; every other status is its own standing."""
    if answer["status"] != "eligible":
        return str(answer["status"])
    bound = (Month.of(on) + lead_months).first_day
    due = answer["next_due"] is not None and date.fromisoformat(answer["next_due"]) < bound
    return "due" if due else "valid"


def _expected(answers: list[Any], prefix: str, on: date) -> dict[str, Any]:
    """What statistics must say of the region, from the single answers alone."""
    policy = POLICIES.for_agency(prefix, on)
    assert policy is not None
    mine = [(a, b) for a, b in answers if a["agency_code"].startswith(prefix)]
    standings = Counter(_standing(a, on, policy.reminder_lead_months) for a, _ in mine)
    windows = []
    for window in policy.first_certification:
        start = datetime.combine(window.coverage_start, datetime.min.time(), policy.tz)
        scoped = [
            a
            for a, b in mine
            if b["benefit_type"] in window.benefit_types
            and date.fromisoformat(b["start_date"]) < window.coverage_start
        ]
        certified = [
            a
            for a in scoped
            if a["last_certification"] is not None
            and datetime.fromisoformat(a["last_certification"]["occurred_at"]) >= start
        ]
        windows.append((sorted(window.benefit_types), len(scoped), len(certified)))
    return {
        "in_scope": len(mine),
        **{stat: standings[standing] for standing, stat in STANDINGS.items()},
        "never_certified": sum(a["last_certification"] is None for a, _ in mine),
        "first_certification": windows,
    }


def _observed(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "in_scope": stats["in_scope"],
        **{stat: stats[stat] for stat in STANDINGS.values()},
        "never_certified": stats["never_certified"],
        "first_certification": [
            (w["benefit_types"], w["in_scope"], w["certified"])
            for w in stats["first_certification"]
        ],
    }


async def _stats(client: httpx.AsyncClient, prefix: str, on: date) -> dict[str, Any]:
    response = await client.get("/v1/stats", params={"agency_code": prefix, "on": on.isoformat()})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# docs/reporting.md: the suspensions a certification (or the step after a late one) lifts.
REMINDED_SUSPENSIONS = {
    "overdue",
    "never_certified",
    "commitment_required",
    "employer_verification",
    "continuation_procedure",
}


def _reminded(answers: list[Any], prefix: str, on: date) -> dict[str, str | None]:
    """The next due date of every benefit a reminder is for, by benefit id."""
    policy = POLICIES.for_agency(prefix, on)
    assert policy is not None
    return {
        a["benefit_id"]: a["next_due"]
        for a, _ in answers
        if a["agency_code"].startswith(prefix)
        and (
            _standing(a, on, policy.reminder_lead_months) == "due"
            or (a["status"] == "suspended" and a["reason"] in REMINDED_SUSPENSIONS)
        )
    }


async def _reminders(client: httpx.AsyncClient, prefix: str, on: date) -> dict[str, str | None]:
    response = await client.get(
        "/v1/reminders", params={"agency_code": prefix, "on": on.isoformat(), "limit": 500}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    return {item["benefit_id"]: item["next_due"] for item in body["items"]}


async def test_statistics_equal_the_single_answers_on_a_generated_population(
    committing_api: Api, database: Database
) -> None:
    people = await _population(committing_api)
    admin = await committing_api.new_client(Role.ADMIN)
    payment = await committing_api.new_client(Role.PAYMENT)
    seen: Counter[str] = Counter()
    windows: list[tuple[list[str], int, int]] = []
    months: set[str] = set()
    for on in DAYS:
        answers = await _answers(payment, people, on)
        expected = {prefix: _expected(answers, prefix, on) for prefix in PREFIXES}
        for prefix in PREFIXES:
            decided = await _stats(admin, prefix, on)
            assert (decided["from_sweep"], decided["evaluated"]) == (0, decided["in_scope"])
            assert _observed(decided) == expected[prefix], (prefix, on)
        await sweep(create_sessionmaker(database.engine), POLICIES, on)
        for prefix in PREFIXES:
            swept = await _stats(admin, prefix, on)
            assert (swept["from_sweep"], swept["evaluated"]) == (swept["in_scope"], 0)
            assert _observed(swept) == expected[prefix], (prefix, on)
        for prefix in ("14", "43"):
            seen.update({stat: expected[prefix][stat] for stat in STANDINGS.values()})
            windows += expected[prefix]["first_certification"]
            # Reminders, with their next due dates, are the same answers'.
            reminded = _reminded(answers, prefix, on)
            assert await _reminders(admin, prefix, on) == reminded
            months.update(d[:7] for d in reminded.values() if d)
    # The population reaches every standing, reminders fall due in several months, and every
    # window has benefits on both sides.
    assert (+seen).keys() == set(STANDINGS.values()), seen
    assert len(months) >= 3, months
    assert all(total > certified > 0 for _, total, certified in windows), [
        (len(types), total, certified) for types, total, certified in windows
    ]
