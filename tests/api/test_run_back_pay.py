"""Back pay the payment run sees (issue 16 item 2, docs/policy.md §7.5).

Hunan 二(七): "经核实符合待遇享受资格的人员，应及时办理待遇恢复和补发" — those verified as entitled
are resumed and paid back promptly. The point answer lists back pay only in the month the benefit
resumed, so a run made before the certification day never saw it. The stored runs are facts: a
run lists every month an earlier completed run withheld and that is now paid, once, and never a
month an earlier completed run paid.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.db.engine import create_sessionmaker
from app.db.models import PaymentRun
from app.domain.enums import Role
from app.domain.months import Month, month_range
from tests.conftest import Api, Database
from tests.factories import benefit, face, id_number, recipient
from tests.runs import compute_waiting_runs, leave_runs_to_workers


class Office:
    """A payment office replaying its months: runs asked for on a day, completed a minute
    later on the replayed clock (sealing stamps the wall clock, which a replay cannot use)."""

    def __init__(self, api: Api, database: Database) -> None:
        self.api = api
        self.database = database
        self.sessions = create_sessionmaker(database.engine)
        self.admin: httpx.AsyncClient
        self.mobile: httpx.AsyncClient
        self.payment: httpx.AsyncClient

    async def open(self) -> Office:
        self.admin = await self.api.new_client(Role.ADMIN)
        self.mobile = await self.api.new_client(Role.MOBILE)
        self.payment = await self.api.new_client(Role.PAYMENT)
        return self

    async def register(self, county: str, kind: str, contacts: int = 1) -> tuple[str, str]:
        """A recipient with one approved benefit; (recipient_id, benefit_id)."""
        body = recipient(
            id_number(county),
            emergency_contacts=contacts,
            benefits=[benefit(benefit_type=kind, agency_code=county, funeral_subsidy_area=None)],
        )
        created = await self.admin.post("/v1/recipients", json=body)
        assert created.status_code == 201, created.text
        found = created.json()
        return found["recipient_id"], found["benefits"][0]["benefit_id"]

    async def certify(self, rid: str, day: str) -> None:
        self.api.set_now(f"{day}T10:00:00+08:00")
        posted = await self.mobile.post(
            "/v1/certifications", json=face(rid, f"{day}T09:00:00+08:00")
        )
        assert posted.status_code == 201, posted.text

    async def run(
        self,
        month: str,
        scope: str,
        day: int = 10,
        new: bool = False,
        late: bool = False,
        workers: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """The run's items by benefit id. ``late``: completed only after the next month's
        run was asked for; ``workers``: computed by a run worker in two decision processes."""
        self.api.set_now(f"{month}-{day:02d}T10:00:00+08:00")
        created = await self.payment.post(
            "/v1/payment-runs", json={"month": month, "agency_code": scope, "new": new}
        )
        assert created.status_code == 201, created.text
        if workers:
            assert await compute_waiting_runs(self.database, processes=2) == 1
        run = created.json()
        status = (await self.payment.get(f"/v1/payment-runs/{run['run_id']}")).json()["status"]
        assert status == "completed"
        async with self.sessions() as session, session.begin():
            found = await session.get_one(PaymentRun, uuid.UUID(run["run_id"]))
            found.completed_at = found.known_at + timedelta(days=40 if late else 0, minutes=1)
        items = await self.payment.get(f"/v1/payment-runs/{run['run_id']}/items")
        assert items.status_code == 200, items.text
        lines = [json.loads(line) for line in items.text.splitlines()]
        return {item["benefit_id"]: item for item in lines}

    async def answer(self, rid: str, bid: str, on: str) -> dict[str, Any]:
        found = await self.payment.get(f"/v1/recipients/{rid}/eligibility", params={"on": on})
        assert found.status_code == 200, found.text
        answers: dict[str, dict[str, Any]] = {b["benefit_id"]: b for b in found.json()["benefits"]}
        return answers[bid]


async def _overdue_then_certified_after_the_run(office: Office) -> tuple[str, str]:
    """Shanxi, never certified: withheld from enforcement (2026-05); runs for May, June and
    July withhold it; certified on 2026-07-20, after July's run."""
    office.api.set_now("2026-04-01T10:00:00+08:00")
    rid, bid = await office.register("140402", "enterprise_pension")
    for month in ("2026-05", "2026-06", "2026-07"):
        item = (await office.run(month, "14"))[bid]
        assert (item["payable"], item["status"]) == (False, "suspended")
    await office.certify(rid, "2026-07-20")
    return rid, bid


async def test_the_run_after_a_late_certification_pays_back_every_month_runs_withheld(
    committing_api: Api, database: Database
) -> None:
    """Issue 16's example: run M withholds, the person certifies later in M; the run for M+1
    lists M-2, M-1 and M as back pay ("应及时办理待遇恢复和补发"); the run for M+2 lists none."""
    office = await Office(committing_api, database).open()
    rid, bid = await _overdue_then_certified_after_the_run(office)
    # The point answer for August lists nothing: the back pay belonged to July.
    assert (await office.answer(rid, bid, "2026-08-10"))["back_pay_months"] == []
    august = (await office.run("2026-08", "14"))[bid]
    assert august["payable"] is True
    assert august["back_pay_months"] == ["2026-05", "2026-06", "2026-07"]
    september = (await office.run("2026-09", "14"))[bid]
    assert (september["payable"], september["back_pay_months"]) == (True, [])


async def test_a_re_run_replaces_the_older_run_and_back_pay_is_not_listed_twice(
    committing_api: Api, database: Database
) -> None:
    office = await Office(committing_api, database).open()
    _, bid = await _overdue_then_certified_after_the_run(office)
    first = (await office.run("2026-08", "14"))[bid]
    again = (await office.run("2026-08", "14", day=12, new=True))[bid]
    # The re-run replaces the first one (the agency pays from one of them): the same list.
    assert first["back_pay_months"] == again["back_pay_months"] == ["2026-05", "2026-06", "2026-07"]
    assert (await office.run("2026-09", "14"))[bid]["back_pay_months"] == []
    assert (await office.run("2026-10", "14"))[bid]["back_pay_months"] == []


async def test_decision_processes_reconcile_back_pay_as_the_api_process_does(
    committing_api: Api, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a run worker spreads a big run's spans over decision processes, each
    reading the stored runs' items for its own span: the same back pay, span by span."""
    if database.backend != "postgresql":
        pytest.skip("decision processes decide runs on PostgreSQL only")
    office = await Office(committing_api, database).open()
    _, bid = await _overdue_then_certified_after_the_run(office)
    office.api.set_now("2026-08-01T10:00:00+08:00")
    others = [(await office.register("140402", "resident_pension"))[1] for _ in range(3)]
    here = await office.run("2026-08", "14")
    leave_runs_to_workers(database, monkeypatch, span_benefits=1)
    there = await office.run("2026-08", "14", day=11, new=True, workers=True)
    assert there[bid]["back_pay_months"] == ["2026-05", "2026-06", "2026-07"]
    for benefit_id in [bid, *others]:
        assert there[benefit_id]["back_pay_months"] == here[benefit_id]["back_pay_months"]


async def test_a_run_completed_after_the_next_one_began_is_reconciled_by_the_one_after(
    committing_api: Api, database: Database
) -> None:
    """Only runs completed by a run's known_at count, so a takeover decides the same; what a
    late run withheld is paid back by the first run that can see it."""
    office = await Office(committing_api, database).open()
    office.api.set_now("2026-04-01T10:00:00+08:00")
    rid, bid = await office.register("140402", "enterprise_pension")
    for month in ("2026-05", "2026-06"):
        await office.run(month, "14")
    assert (await office.run("2026-07", "14", late=True))[bid]["payable"] is False
    await office.certify(rid, "2026-07-20")
    assert (await office.run("2026-08", "14"))[bid]["back_pay_months"] == ["2026-05", "2026-06"]
    assert (await office.run("2026-09", "14"))[bid]["back_pay_months"] == ["2026-07"]
    assert (await office.run("2026-10", "14"))[bid]["back_pay_months"] == []


async def test_a_month_its_own_run_paid_is_never_listed_as_back_pay(
    committing_api: Api, database: Database
) -> None:
    """A suspected death reported late withholds, with hindsight, a month its run had paid;
    when the suspicion is cleared the point answer pays that month back, the run does not."""
    office = await Office(committing_api, database).open()
    office.api.set_now("2026-04-01T10:00:00+08:00")
    rid, bid = await office.register("140402", "enterprise_pension")
    await office.certify(rid, "2026-04-02")
    assert (await office.run("2026-05", "14"))[bid]["payable"] is True
    assert (await office.run("2026-06", "14"))[bid]["payable"] is True
    office.api.set_now("2026-06-20T10:00:00+08:00")
    report = {
        "recipient_id": rid,
        "reason": "death",
        "occurred_on": "2026-05-28",
        "reported_by": "data_match",
        "suspected": True,
    }
    assert (await office.admin.post("/v1/stop-reports", json=report)).status_code == 201
    assert (await office.run("2026-07", "14"))[bid]["payable"] is False
    office.api.set_now("2026-07-20T10:00:00+08:00")
    cases = await office.admin.get("/v1/verification-cases", params={"agency_code": "14"})
    (case,) = cases.json()["items"]
    resolved = await office.admin.post(
        f"/v1/verification-cases/{case['case_id']}/resolution",
        json={"outcome": "confirmed_eligible", "effective_on": None},
    )
    assert resolved.status_code in (200, 201), resolved.text
    # With hindsight June was withheld by the suspicion, so the point answer pays it back in
    # July, the month of resolution; but June's run had paid June.
    july = await office.answer(rid, bid, "2026-07-31")
    assert (july["payable"], july["back_pay_months"]) == (True, ["2026-06"])
    august = (await office.run("2026-08", "14"))[bid]
    assert august["payable"] is True
    # June was paid by June's run; July was withheld by July's and is owed, once.
    assert august["back_pay_months"] == ["2026-07"]
    assert (await office.run("2026-09", "14"))[bid]["back_pay_months"] == []


KINDS = ("enterprise_pension", "work_injury_dependent", "resident_pension", "unemployment")
MONTHS = [str(m) for m in month_range(Month(2026, 5), Month(2026, 11))]  # May … October


async def test_over_a_mixed_population_every_back_pay_month_is_in_exactly_one_run(
    committing_api: Api, database: Database
) -> None:
    """Shanxi and Hunan recipients with short and long cycles certify on random days, before
    or after each month's run, some months are re-run; one more run after the last facts.
    For every benefit and month: a month paid with hindsight that its run withheld is listed
    as back pay by exactly one of the runs that count (the newest per month), and a month its
    run paid, or that is not paid with hindsight, by none."""
    rng = random.Random(16)
    office = await Office(committing_api, database).open()
    office.api.set_now("2026-04-01T10:00:00+08:00")
    people: list[tuple[str, str]] = []
    for n in range(24):
        county = "140402" if n % 2 == 0 else "430102"
        people.append(await office.register(county, rng.choice(KINDS), rng.choice((0, 1, 2))))
    for rid, _ in people:
        if rng.random() < 0.6:
            await office.certify(rid, f"2026-04-0{rng.randint(2, 9)}")
    counted: dict[str, dict[str, dict[str, Any]]] = {}  # month -> the newest run's items
    for month in MONTHS:
        # Facts in time order: some before the month's run, more after it (what the run
        # cannot see), and sometimes a re-run at the month's end, which replaces the first.
        for rid, _ in rng.sample(people, 2):
            await office.certify(rid, f"{month}-0{rng.randint(1, 9)}")
        counted[month] = await _both_scopes(office, month, 10)
        for rid, day in sorted(
            ((rid, rng.randint(11, 27)) for rid, _ in rng.sample(people, 4)),
            key=lambda pair: pair[1],
        ):
            await office.certify(rid, f"{month}-{day}")
        if rng.random() < 0.4:
            counted[month] = await _both_scopes(office, month, 28, new=True)
    counted["2026-11"] = await _both_scopes(office, "2026-11", 10)

    office.api.set_now("2026-11-10T11:00:00+08:00")
    listed_somewhere = 0
    for rid, bid in people:
        hindsight: set[str] = set()
        for month in MONTHS:
            answer = await office.answer(rid, bid, str(Month.parse(month).last_day))
            hindsight.update(answer["back_pay_months"])
            if answer["payable"]:
                hindsight.add(month)
        listings = [m for items in counted.values() for m in items[bid]["back_pay_months"]]
        assert len(listings) == len(set(listings)), (bid, listings)
        for month in MONTHS:
            withheld = not counted[month][bid]["payable"]
            owed = withheld and month in hindsight
            assert listings.count(month) == (1 if owed else 0), (bid, month, listings)
        listed_somewhere += len(listings)
    assert listed_somewhere >= 10  # the population does exercise back pay


async def _both_scopes(
    office: Office, month: str, day: int, new: bool = False
) -> dict[str, dict[str, Any]]:
    return {**await office.run(month, "14", day, new), **await office.run(month, "43", day, new)}
