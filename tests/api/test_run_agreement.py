"""A payment run and the batch check decide exactly as the single answer path does, however
a run is computed.

A generated population with every kind of fact (certifications, some revoked, deaths,
imprisonments, suspicions and their cases, resumption steps, a moratorium, changes of
emergency contacts and funeral-subsidy flags, facts recorded after the run's instant) is run
in Shanxi and Hunan; every stored item, and every benefit of a batch check over the same
recipients, must equal the single eligibility answer, and an item's
``last_record_at`` must be `FactBook.newest_record`. On PostgreSQL the run is also computed in
worker processes over many small spans, which must serve the same bytes as the in-process
computation. A run computed before pages were stored is served from its items, byte for byte.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload

from app.db.engine import create_sessionmaker
from app.db.facts import benefit_facts, load_facts, recipient_facts
from app.db.models import PaymentRunPage, Recipient
from app.db.runs import postgresql as run_pg
from app.db.runs.claims import RunClaim
from app.db.runs.rows import Scope
from app.domain.eligibility import evaluate_eligibility
from app.domain.enums import Role
from app.domain.policy import load_policies
from app.services.eligibility.policies import policy_for
from app.services.payment_runs import workers as run_workers
from tests.conftest import Api, Database
from tests.factories import benefit, face, id_number, recipient
from tests.populations import (
    Post,
    post_in_time_order,
    random_benefit,
    random_kinds,
    revoke_if_made,
    stop_report,
)
from tests.runs import as_if_its_process_died, compute_waiting_runs, leave_runs_to_workers

FIELDS = ("payable", "status", "reason", "back_pay_months", "overpaid_months", "valid_through")
RUN_AT = "2026-06-10T10:00:00+08:00"


@dataclass
class Population:
    admin: httpx.AsyncClient
    payment: httpx.AsyncClient
    recipients: list[str]


async def _population(api: Api, seed: int = 7, size: int = 60) -> Population:
    """Recipients of Changzhi (1404) and Changsha (4301) with facts drawn at random, posted in
    time order through the API, as known on the run's day."""
    rng = random.Random(seed)
    admin = await api.new_client(Role.ADMIN)
    mobile = await api.new_client(Role.MOBILE)
    payment = await api.new_client(Role.PAYMENT)
    api.set_now("2025-05-20T10:00:00+08:00")
    ids: list[str] = []
    bodies: list[dict[str, Any]] = []
    for n in range(size):
        county = "140402" if n % 2 == 0 else "430102"
        kinds = random_kinds(rng)
        body = recipient(
            id_number(county),
            emergency_contacts=rng.choice((0, 1, 2)),
            benefits=[
                random_benefit(
                    rng,
                    kind,
                    county,
                    f"REF-{n}-{kind[:4]}",
                    starts=("2019-05-01", "2025-08-01", "2026-02-01"),
                    approved_above=0.15,
                    funeral_flags=(True, False, None),
                )
                for kind in kinds
            ],
        )
        created = await admin.post("/v1/recipients", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["recipient_id"])
        bodies.append(body)

    # One that lapses in May and certifies again in June: paid back for May.
    lapsing = recipient(id_number("140402"), emergency_contacts=0, benefits=[benefit()])
    created = await admin.post("/v1/recipients", json=lapsing)
    assert created.status_code == 201, created.text
    ids.append(created.json()["recipient_id"])

    # (when, what): certifications, revocations, stop reports, steps, in time order.
    events: list[tuple[str, Post]] = []
    for day in ("2026-01-05", "2026-06-03"):
        events.append((f"{day}T09:00:00+08:00", _certify(mobile, admin, ids[-1], day, None)))
    moratorium = {
        "agency_code": "1404",
        "benefit_types": ["enterprise_pension", "resident_pension"],
        "starts_on": "2026-05-01",
        "ends_on": "2026-06-30",
        "reason": "face service outage",
    }
    months = [f"2025-{m:02d}" for m in range(6, 13)] + [f"2026-{m:02d}" for m in range(1, 7)]
    # Registry changes that decide cycles (docs/policy.md §3): contacts changed, funeral flags
    # flipped, some after the run's instant.
    for rid, body in zip(ids, bodies, strict=False):
        if rng.random() < 0.3:
            day = f"{rng.choice(months)}-1{rng.randint(0, 9)}"
            events.append((f"{day}T11:00:00+08:00", _contacts(admin, rid, rng.randint(0, 3))))
        if (
            any(b["funeral_subsidy_area"] is not None for b in body["benefits"])
            and rng.random() < 0.5
        ):
            day = f"{rng.choice(months)}-1{rng.randint(0, 9)}"
            events.append((f"{day}T11:00:00+08:00", _flip_funeral(admin, body)))
    for rid in ids:
        for month in sorted(rng.sample(months, rng.choice((0, 1, 1, 2, 3)))):
            day = f"{month}-0{rng.randint(1, 8)}"
            events.append((f"{day}T09:00:00+08:00", _certify(mobile, admin, rid, day, rng)))
        roll = rng.random()
        if roll < 0.10:
            # Reported late: the months paid after the death are overpaid.
            events.append(
                ("2026-04-15T10:00:00+08:00", stop_report(admin, rid, "death", "2026-02-20"))
            )
        elif roll < 0.16:
            events.append(
                ("2026-03-20T10:00:00+08:00", stop_report(admin, rid, "imprisonment", "2026-03-01"))
            )
        elif roll < 0.26:
            events.append(
                ("2026-05-03T10:00:00+08:00", stop_report(admin, rid, "death", "2026-04-28", True))
            )
        elif roll < 0.32:
            events.append(("2026-05-20T10:00:00+08:00", _commitment(admin, rid, "2026-05-20")))
    events.append(
        ("2026-05-01T08:00:00+08:00", lambda: admin.post("/v1/moratoria", json=moratorium))
    )
    await post_in_time_order(api, events, after=timedelta(hours=1))

    # Half the open cases are resolved, one way or the other.
    api.set_now("2026-05-25T10:00:00+08:00")
    for prefix in ("14", "43"):
        page = await admin.get("/v1/verification-cases", params={"agency_code": prefix})
        assert page.status_code == 200, page.text
        for case in page.json()["items"][::2]:
            eligible = rng.random() < 0.5
            resolution = {
                "outcome": "confirmed_eligible" if eligible else "confirmed_ineligible",
                "effective_on": None if eligible else "2026-04-30",
            }
            answer = await admin.post(
                f"/v1/verification-cases/{case['case_id']}/resolution", json=resolution
            )
            assert answer.status_code in (200, 201), answer.text
    return Population(admin, payment, ids)


def _certify(
    mobile: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    rid: str,
    day: str,
    rng: random.Random | None,
) -> Post:
    revoke = rng is not None and rng.random() < 0.12

    async def post() -> httpx.Response:
        answer = await mobile.post("/v1/certifications", json=face(rid, f"{day}T09:00:00+08:00"))
        if revoke:
            await revoke_if_made(admin, answer)
        return answer

    return post


def _contacts(admin: httpx.AsyncClient, rid: str, count: int) -> Post:
    return lambda: admin.patch(f"/v1/recipients/{rid}", json={"emergency_contacts": count})


def _flip_funeral(admin: httpx.AsyncClient, body: dict[str, Any]) -> Post:
    """Registered again with every known funeral-subsidy flag turned over."""
    benefits = [
        {
            **b,
            "funeral_subsidy_area": None
            if b["funeral_subsidy_area"] is None
            else not b["funeral_subsidy_area"],
        }
        for b in body["benefits"]
    ]
    return lambda: admin.post("/v1/recipients", json={**body, "benefits": benefits})


def _commitment(admin: httpx.AsyncClient, rid: str, on: str) -> Post:
    return lambda: admin.post(f"/v1/recipients/{rid}/commitments", json={"signed_on": on})


async def _run(
    payment: httpx.AsyncClient, scope: str, workers: Database | None = None
) -> tuple[dict[str, Any], bytes]:
    """The run's status and served bytes; computed by the API, or by a run worker with two
    decision processes when ``workers`` names the database (see `leave_runs_to_workers`)."""
    created = await payment.post(
        "/v1/payment-runs", json={"month": "2026-06", "agency_code": scope, "new": True}
    )
    assert created.status_code == 201, created.text
    if workers is not None:
        assert await compute_waiting_runs(workers, processes=2) == 1
    run = (await payment.get(f"/v1/payment-runs/{created.json()['run_id']}")).json()
    assert run["status"] == "completed", run
    served = await payment.get(f"/v1/payment-runs/{run['run_id']}/items")
    assert served.status_code == 200
    return run, served.content


async def _batch_check(payment: httpx.AsyncClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The batch check's answer for every benefit of these recipients, by benefit id."""
    response = await payment.post(
        "/v1/eligibility/check",
        json={"month": "2026-06", "recipients": [{"recipient_id": rid} for rid in ids]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["on"] == "2026-06-10"
    assert [result["recipient_id"] for result in body["results"]] == ids
    return {
        answer["benefit_id"]: answer for result in body["results"] for answer in result["benefits"]
    }


async def _newest_records(database: Database, ids: list[str], known_at: str) -> dict[str, Any]:
    """`FactBook.newest_record` of each recipient, as the UTC text a line carries."""
    instant = datetime.fromisoformat(known_at)
    async with create_sessionmaker(database.engine)() as session:
        book = await load_facts(session, [uuid.UUID(rid) for rid in ids])
    newest = {rid: book.newest_record(uuid.UUID(rid), instant) for rid in ids}
    return {
        rid: None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        for rid, value in newest.items()
    }


async def test_every_run_item_is_the_single_answer_on_a_generated_population(
    committing_api: Api, database: Database
) -> None:
    people = await _population(committing_api)
    committing_api.set_now(RUN_AT)
    newest = await _newest_records(database, people.recipients, RUN_AT)
    statuses: set[tuple[str, str]] = set()
    months: set[str] = set()
    for scope in ("14", "43"):
        run, raw = await _run(people.payment, scope)
        items = [json.loads(line) for line in raw.splitlines()]
        assert [item["seq"] for item in items] == list(range(1, len(items) + 1))
        assert run["items"] == len(items) > 0
        assert sum(run["counts"].values()) == len(items)
        singles: dict[str, dict[str, Any]] = {}
        in_scope = list(dict.fromkeys(item["recipient_id"] for item in items))
        for rid in in_scope:
            answer = await people.admin.get(
                f"/v1/recipients/{rid}/eligibility", params={"on": "2026-06-10"}
            )
            assert answer.status_code == 200, answer.text
            singles.update({b["benefit_id"]: b for b in answer.json()["benefits"]})
        batch = await _batch_check(people.payment, in_scope)
        assert batch.keys() == singles.keys()
        for benefit_id, checked in batch.items():
            assert {f: checked[f] for f in FIELDS} == {f: singles[benefit_id][f] for f in FIELDS}
        for item in items:
            single = singles[item["benefit_id"]]
            assert {f: item[f] for f in FIELDS} == {f: single[f] for f in FIELDS}, item
            assert item["policy_id"] == single["policy"]
            assert item["agency_code"].startswith(scope)
            assert item["last_record_at"] == newest[item["recipient_id"]]
            statuses.add((item["status"], item["reason"]))
            months.update(f for f in ("back_pay_months", "overpaid_months") if item[f])
    assert {status for status, _ in statuses} >= {
        "eligible",
        "suspended",
        "stopped",
        "awaiting_first_certification",
        "not_required",
    }
    assert len(statuses) >= 8, statuses
    assert months >= {"back_pay_months", "overpaid_months"}


async def test_a_run_leaves_out_what_was_recorded_after_its_instant(
    committing_api: Api, database: Database
) -> None:
    admin = await committing_api.new_client(Role.ADMIN)
    mobile = await committing_api.new_client(Role.MOBILE)
    payment = await committing_api.new_client(Role.PAYMENT)
    committing_api.set_now("2026-06-01T10:00:00+08:00")
    body = recipient(benefits=[benefit(benefit_type="enterprise_pension", external_ref="E-1")])
    rid = (await admin.post("/v1/recipients", json=body)).json()["recipient_id"]
    # Recorded on the 11th: a certification made on the 9th, and a second benefit.
    committing_api.set_now("2026-06-11T10:00:00+08:00")
    late = face(rid, "2026-06-09T09:00:00+08:00")
    assert (await mobile.post("/v1/certifications", json=late)).status_code == 201
    body["benefits"].append(benefit(external_ref="D-2"))
    assert (await admin.post("/v1/recipients", json=body)).status_code == 200
    committing_api.set_now(RUN_AT)
    run, raw = await _run(payment, "1404")
    items = [json.loads(line) for line in raw.splitlines()]
    assert [item["external_ref"] for item in items] == ["E-1"]
    assert (items[0]["status"], items[0]["last_record_at"]) == ("suspended", None)
    # The engine, asked as known at the run's instant, says the same.
    policies = load_policies()
    async with create_sessionmaker(database.engine)() as session:
        person = await session.scalar(
            select(Recipient)
            .where(Recipient.id == uuid.UUID(rid))
            .options(selectinload(Recipient.benefits))
        )
        assert person is not None
        book = await load_facts(session, [person.id])
    pension = next(b for b in person.benefits if b.external_ref == "E-1")
    answer = evaluate_eligibility(
        benefit_facts(pension),
        recipient_facts(person),
        book.certifications(person.id),
        policy_for(policies, pension, date(2026, 6, 10)),
        date(2026, 6, 10),
        datetime.fromisoformat(run["known_at"]),
        events=book.events(person.id),
    )
    assert (answer.status.value, answer.payable) == (items[0]["status"], items[0]["payable"])
    assert run["counts"] == {"payable": 0, "withheld": 1, "stopped": 0}


async def test_runs_in_decision_processes_serve_the_same_bytes(
    committing_api: Api, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run worker spreading a run over two decision processes stores the same bytes as the
    API computing it in its own process."""
    if database.backend != "postgresql":
        pytest.skip("decision processes decide runs on PostgreSQL only")
    people = await _population(committing_api, seed=3, size=24)
    committing_api.set_now(RUN_AT)
    here, here_raw = await _run(people.payment, "14")
    # Spans of three benefits, many per process, handed out by the run worker.
    leave_runs_to_workers(database, monkeypatch, span_benefits=3)
    there, there_raw = await _run(people.payment, "14", workers=database)
    assert there["run_id"] != here["run_id"]
    assert there_raw == here_raw
    assert (there["digest"], there["counts"]) == (here["digest"], here["counts"])
    async with database.engine.connect() as connection:
        pages = await connection.scalar(
            select(func.count())
            .select_from(PaymentRunPage)
            .where(PaymentRunPage.run_id == uuid.UUID(there["run_id"]))
        )
    assert pages is not None and pages >= len(there_raw.splitlines()) // 6
    # The items the workers stored as rows say the same as their pages.
    async with database.engine.begin() as connection:
        await connection.execute(
            delete(PaymentRunPage).where(PaymentRunPage.run_id == uuid.UUID(there["run_id"]))
        )
    assert (await people.payment.get(f"/v1/payment-runs/{there['run_id']}/items")).content == (
        there_raw
    )


async def test_a_worker_that_cannot_start_fails_the_run_cleanly() -> None:
    spec = run_workers.WorkerSpec(
        dsn="postgresql://nobody@127.0.0.1:1/none",
        snapshot="00000003-00000002-1",
        claim=RunClaim(uuid.uuid4(), 1),
        run=run_pg.RunInput(Scope("14", datetime.now(UTC)), (), frozenset()),
        policies=load_policies(),
        on=date(2026, 6, 10),
        known_at=datetime.now(UTC),
    )
    span = run_pg.Span(1, str(uuid.uuid4()), str(uuid.uuid4()), 1, 1)
    stored: list[object] = []

    async def keep(result: object) -> None:
        stored.append(result)

    with pytest.raises(run_workers.WorkerFailed):
        await run_workers.decide_in_workers(spec, [span, span], keep, workers=2)
    assert stored == []


async def test_a_run_without_pages_is_served_from_its_items_byte_for_byte(
    committing_api: Api, database: Database
) -> None:
    people = await _population(committing_api, seed=5, size=12)
    committing_api.set_now(RUN_AT)
    run, raw = await _run(people.payment, "43")
    async with database.engine.begin() as connection:
        await connection.execute(
            delete(PaymentRunPage).where(PaymentRunPage.run_id == uuid.UUID(run["run_id"]))
        )
    again = await people.payment.get(f"/v1/payment-runs/{run['run_id']}/items")
    assert again.content == raw


async def test_a_run_whose_process_died_is_recomputed_identically(
    committing_api: Api, database: Database
) -> None:
    people = await _population(committing_api, seed=9, size=12)
    committing_api.set_now(RUN_AT)
    run, raw = await _run(people.payment, "14")
    # As if its process had died half-way ten minutes ago: running, some pages missing.
    run_id = uuid.UUID(run["run_id"])
    await as_if_its_process_died(
        database, run_id, datetime.fromisoformat(RUN_AT) - timedelta(minutes=10)
    )
    again = await people.payment.post(
        "/v1/payment-runs", json={"month": "2026-06", "agency_code": "14"}
    )
    assert (again.status_code, again.json()["run_id"]) == (201, run["run_id"])
    restarted = (await people.payment.get(f"/v1/payment-runs/{run['run_id']}")).json()
    assert restarted["status"] == "completed"
    assert (restarted["digest"], restarted["counts"]) == (run["digest"], run["counts"])
    assert (await people.payment.get(f"/v1/payment-runs/{run['run_id']}/items")).content == raw
