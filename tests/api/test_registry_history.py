"""The cycle follows the registry as it was (issue 16 item 1; docs/policy.md §3), on both
databases: a change of emergency contacts or of the funeral-subsidy flag decides the cycle of
the next certification, never of one already made, and as-of / known-at answers give what the
service answered at the time."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import RegistryHistory
from app.domain.enums import Role
from tests.conftest import Api, Database
from tests.factories import benefit, face, id_number, recipient

SHANXI_DEPENDENT = {"benefit_type": "work_injury_dependent", "agency_code": "140402"}
HUNAN_RESIDENT = {"benefit_type": "resident_pension", "agency_code": "430102"}


class Desk:
    """An agency at its desk: registers, changes, certifies and asks, at frozen instants."""

    def __init__(self, api: Api, admin: httpx.AsyncClient, payment: httpx.AsyncClient) -> None:
        self.api = api
        self.admin = admin
        self.payment = payment

    @classmethod
    async def open(cls, api: Api) -> Desk:
        return cls(api, await api.new_client(Role.ADMIN), await api.new_client(Role.PAYMENT))

    async def register(self, when: str, body: dict[str, Any]) -> str:
        self.api.set_now(when)
        answer = await self.admin.post("/v1/recipients", json=body)
        assert answer.status_code in (200, 201), answer.text
        rid: str = answer.json()["recipient_id"]
        return rid

    async def contacts(self, when: str, rid: str, count: int) -> None:
        self.api.set_now(when)
        answer = await self.admin.patch(f"/v1/recipients/{rid}", json={"emergency_contacts": count})
        assert answer.status_code == 200, answer.text
        assert answer.json()["emergency_contacts"] == count

    async def certify(self, when: str, rid: str) -> None:
        self.api.set_now(when)
        answer = await self.admin.post("/v1/certifications", json=face(rid, when))
        assert answer.status_code == 201, answer.text
        assert answer.json()["counted"] is True, answer.text

    async def ask(
        self, when: str, rid: str, on: str, known_at: str | None = None
    ) -> list[dict[str, Any]]:
        self.api.set_now(when)
        params = {"on": on} if known_at is None else {"on": on, "known_at": known_at}
        answer = await self.payment.get(f"/v1/recipients/{rid}/eligibility", params=params)
        assert answer.status_code == 200, answer.text
        benefits: list[dict[str, Any]] = answer.json()["benefits"]
        return benefits


def _view(answer: dict[str, Any]) -> tuple[Any, ...]:
    return (answer["payable"], answer["status"], answer["cycle_months"], answer["valid_through"])


async def test_adding_contacts_after_a_lapse_revives_nothing(api: Api) -> None:
    """Shanxi 二(一): "供养亲属，按填写的紧急联系人数量确定认证周期，
    两个紧急联系人的认证周期为12个月（从认证当月算起，按月计算，下同）；
    一个紧急联系人的认证周期为6个月；没有紧急联系人的认证周期为3个月。"

    A dependent with no contacts certified on 2026-06-10 gets 3 months, valid through
    2026-08-31, and lapses from September. Two contacts added on 2026-12-05 decide the cycle of
    the next certification only: on 2026-12-08 the benefit is still overdue since September
    (valid through 2026-08-31), also asked with known_at before the change; certified on
    2026-12-10 it gets 12 months from December, valid through 2027-11-30."""
    desk = await Desk.open(api)
    body = recipient(
        id_number("140402"), emergency_contacts=0, benefits=[benefit(**SHANXI_DEPENDENT)]
    )
    rid = await desk.register("2026-05-20T10:00:00+08:00", body)
    await desk.certify("2026-06-10T09:00:00+08:00", rid)
    [june] = await desk.ask("2026-06-10T12:00:00+08:00", rid, "2026-06-10")
    assert _view(june) == (True, "eligible", 3, "2026-08-31")

    await desk.contacts("2026-12-05T10:00:00+08:00", rid, 2)
    [after] = await desk.ask("2026-12-08T10:00:00+08:00", rid, "2026-12-08")
    assert _view(after) == (False, "suspended", 3, "2026-08-31")
    assert after["reason"] == "overdue"
    [before] = await desk.ask(
        "2026-12-08T10:00:00+08:00", rid, "2026-12-08", known_at="2026-12-01T00:00:00+08:00"
    )
    assert _view(before) == _view(after)
    # The months already decided stay decided: September is withheld, as it was then.
    [september] = await desk.ask("2026-12-08T10:00:00+08:00", rid, "2026-09-15")
    assert _view(september) == (False, "suspended", 3, "2026-08-31")

    await desk.certify("2026-12-10T09:00:00+08:00", rid)
    [december] = await desk.ask("2026-12-10T12:00:00+08:00", rid, "2026-12-10")
    assert _view(december) == (True, "eligible", 12, "2027-11-30")
    # Known before the change, the same certification would have had 3 months.
    [then] = await desk.ask(
        "2026-12-10T12:00:00+08:00", rid, "2026-12-10", known_at="2026-12-01T00:00:00+08:00"
    )
    assert _view(then) == (False, "suspended", 3, "2026-08-31")


async def test_removing_contacts_never_shortens_a_running_cycle(api: Api) -> None:
    """Shanxi 二(一): "两个紧急联系人的认证周期为12个月（从认证当月算起，按月计算，下同）……
    没有紧急联系人的认证周期为3个月。"

    Two contacts, certified on 2026-06-10: 12 months, valid through 2027-05-31. Both removed on
    2026-12-05: March 2027 is still paid (valid through 2027-05-31). Certified again on
    2027-01-10 with none, that certification has 3 months (January–March) and the June one
    still covers through May. Overdue from June 2027; certified on 2027-06-20, 3 months:
    valid through 2027-08-31."""
    desk = await Desk.open(api)
    body = recipient(
        id_number("140402"), emergency_contacts=2, benefits=[benefit(**SHANXI_DEPENDENT)]
    )
    rid = await desk.register("2026-05-20T10:00:00+08:00", body)
    await desk.certify("2026-06-10T09:00:00+08:00", rid)
    await desk.contacts("2026-12-05T10:00:00+08:00", rid, 0)
    [march] = await desk.ask("2026-12-06T10:00:00+08:00", rid, "2027-03-15")
    assert _view(march) == (True, "eligible", 12, "2027-05-31")

    await desk.certify("2027-01-10T09:00:00+08:00", rid)
    [january] = await desk.ask("2027-01-10T12:00:00+08:00", rid, "2027-01-10")
    assert _view(january) == (True, "eligible", 3, "2027-05-31")
    [june] = await desk.ask("2027-06-05T12:00:00+08:00", rid, "2027-06-05")
    assert _view(june)[:2] == (False, "suspended")
    assert june["valid_through"] == "2027-05-31"
    await desk.certify("2027-06-20T09:00:00+08:00", rid)
    [resumed] = await desk.ask("2027-06-20T12:00:00+08:00", rid, "2027-06-20")
    assert _view(resumed) == (True, "eligible", 3, "2027-08-31")
    assert resumed["back_pay_months"] == []


async def test_the_funeral_subsidy_flag_decides_the_next_certification(api: Api) -> None:
    """Hunan 二(一): "我省享受基本养老保险定期待遇和工伤保险长期待遇人员资格认证周期为 12 个月，
    其中工伤保险供养亲属抚恤金享受人员和未建立丧葬补助金地区的城乡居民养老保险待遇享受人员，
    资格认证周期为 6 个月。"

    A resident pensioner in an area with a funeral subsidy, certified on 2026-06-10: 12 months,
    valid through 2027-05-31. The registry says on 2026-09-01 that the area has none: the June
    certification keeps its 12 months; certified again on 2027-06-05, 6 months, valid through
    2027-11-30; and asked with known_at before the change, the June answer is as it was."""
    desk = await Desk.open(api)
    number = id_number("430102")
    with_subsidy = recipient(
        number, benefits=[benefit(**HUNAN_RESIDENT, funeral_subsidy_area=True)]
    )
    rid = await desk.register("2026-05-20T10:00:00+08:00", with_subsidy)
    await desk.certify("2026-06-10T09:00:00+08:00", rid)
    [june] = await desk.ask("2026-06-10T12:00:00+08:00", rid, "2026-06-10")
    assert _view(june) == (True, "eligible", 12, "2027-05-31")

    without = recipient(number, benefits=[benefit(**HUNAN_RESIDENT, funeral_subsidy_area=False)])
    assert await desk.register("2026-09-01T10:00:00+08:00", without) == rid
    [april] = await desk.ask("2026-09-02T10:00:00+08:00", rid, "2027-04-15")
    assert _view(april) == (True, "eligible", 12, "2027-05-31")
    await desk.certify("2027-06-05T09:00:00+08:00", rid)
    [renewed] = await desk.ask("2027-06-05T12:00:00+08:00", rid, "2027-06-05")
    assert _view(renewed) == (True, "eligible", 6, "2027-11-30")
    [as_then] = await desk.ask(
        "2027-06-05T12:00:00+08:00", rid, "2026-06-10", known_at="2026-06-10T12:00:00+08:00"
    )
    assert as_then == june


async def test_as_of_and_known_at_answers_equal_those_given_at_the_time(api: Api) -> None:
    """docs/policy.md §3 and §7.1: "so a past decision can be reproduced exactly as it was
    made" — with the cycles of Shanxi 二(一) ("按填写的紧急联系人数量确定认证周期") and Hunan 二(一)
    (the funeral subsidy) following the registry as it was.

    A generated population of Shanxi dependents and Hunan resident pensioners whose contacts
    and flags change at random dates between 2026-05 and 2027-06, certifying now and then. On
    the 10th of every month each one's answer is stored; afterwards each stored answer is asked
    again with that day as ``on`` and that instant as ``known_at``: it must be exactly the same.
    """
    rng = random.Random(16)
    desk = await Desk.open(api)
    people: list[tuple[str, dict[str, Any]]] = []
    for n in range(16):
        shanxi = n % 2 == 0
        kind = SHANXI_DEPENDENT if shanxi else HUNAN_RESIDENT
        flag = None if shanxi else rng.choice((True, False, None))
        body = recipient(
            id_number(kind["agency_code"]),
            emergency_contacts=rng.choice((0, 1, 2)),
            benefits=[benefit(**kind, funeral_subsidy_area=flag)],
        )
        people.append((await desk.register("2026-04-25T10:00:00+08:00", body), body))

    months = [(2026, m) for m in range(5, 13)] + [(2027, m) for m in range(1, 7)]
    stored: list[tuple[str, str, str, list[dict[str, Any]]]] = []
    changed = certified = 0
    for year, month in months:
        for rid, body in people:
            day = rng.randint(1, 9)
            when = f"{year}-{month:02d}-{day:02d}T10:00:00+08:00"
            roll = rng.random()
            if roll < 0.2:
                await desk.contacts(when, rid, rng.choice((0, 1, 2, 3)))
                changed += 1
            elif roll < 0.3 and body["benefits"][0]["funeral_subsidy_area"] is not None:
                flipped = {**body["benefits"][0]}
                flipped["funeral_subsidy_area"] = not flipped["funeral_subsidy_area"]
                body["benefits"] = [flipped]
                await desk.register(when, body)
                changed += 1
            if rng.random() < 0.35:
                await desk.certify(f"{year}-{month:02d}-{day:02d}T15:00:00+08:00", rid)
                certified += 1
        asked = f"{year}-{month:02d}-10T12:00:00+08:00"
        for rid, _ in people:
            on = f"{year}-{month:02d}-10"
            stored.append((rid, on, asked, await desk.ask(asked, rid, on)))
    assert changed > 20 and certified > 40

    distinct_cycles = {answer["cycle_months"] for *_, answers in stored for answer in answers}
    assert {3, 6, 12} <= distinct_cycles
    for rid, on, asked, answers in stored:
        again = await desk.ask("2027-07-01T10:00:00+08:00", rid, on, known_at=asked)
        assert again == answers, (rid, on, asked)


async def test_concurrent_changes_of_one_person_all_land_in_the_history(
    committing_api: Api, database: Database
) -> None:
    """docs/policy.md §3.1: "each change … appends one in the same transaction" — twenty
    writers at once (contacts changed, the person registered again with another funeral flag)
    all succeed, none deadlocks, and the newest value of each field in the history is the one
    the registry holds, every value differing from the one before it."""
    committing_api.set_now("2026-06-10T10:00:00+08:00")
    admin = await committing_api.new_client(Role.ADMIN)
    number = id_number("430102")

    def registration(flag: bool) -> dict[str, Any]:
        return recipient(number, benefits=[benefit(**HUNAN_RESIDENT, funeral_subsidy_area=flag)])

    created = await admin.post("/v1/recipients", json=registration(True))
    assert created.status_code == 201, created.text
    rid = created.json()["recipient_id"]
    writes = [
        admin.patch(f"/v1/recipients/{rid}", json={"emergency_contacts": n % 4})
        if n % 2
        else admin.post("/v1/recipients", json=registration(n % 4 == 0))
        for n in range(20)
    ]
    answers = await asyncio.gather(*writes)
    assert [answer.status_code for answer in answers] == [200] * 20, [a.text for a in answers]

    current = (await admin.get(f"/v1/recipients/{rid}")).json()
    async with AsyncSession(database.engine) as session:
        rows = (
            await session.scalars(
                select(RegistryHistory)
                .where(RegistryHistory.recipient_id == uuid.UUID(rid))
                .order_by(RegistryHistory.recorded_at, RegistryHistory.id)
            )
        ).all()
    contacts = [row.emergency_contacts for row in rows if row.benefit_id is None]
    flags = [row.funeral_subsidy_area for row in rows if row.benefit_id is not None]
    assert contacts[-1] == current["emergency_contacts"]
    assert flags[-1] is current["benefits"][0]["funeral_subsidy_area"]
    assert all(a != b for a, b in itertools.pairwise(contacts))
    assert all(a != b for a, b in itertools.pairwise(flags))
    assert [row.is_change for row in rows].count(False) == 2  # the registration's two values
