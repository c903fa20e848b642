"""Certification ingest over HTTP (API.md "Certifications"), on SQLite and PostgreSQL.

The service clock is frozen at NOW, 2026-06-10 10:00 Beijing time. Shanxi recipients are paid
by agency 140402 and registered by a county client of region 1404; Hunan recipients by 430102
through a county client of 4301. Each holds one work-injury dependent benefit with one
emergency contact: a six-month cycle, so a certification in June is valid through 2026-11-30
(April: 2026-09-30).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.db.models import Certification
from app.domain.enums import Role
from tests.conftest import Api, Database
from tests.factories import (
    MANUAL_MODES,
    TERMINAL_MODES,
    benefit,
    certification,
    consular_details,
    data_match_details,
    details_for,
    face,
    face_details,
    home_visit_details,
    id_number,
    manual_details,
    recipient,
    terminal_details,
)

NOW = "2026-06-10T10:00:00+08:00"
EARLIER_TODAY = "2026-06-10T09:00:00+08:00"
JUNE_VALID_THROUGH = "2026-11-30"
APRIL_VALID_THROUGH = "2026-09-30"
CHANNELS = ("face", "consular_app", "manual", "grassroots_terminal", "home_visit", "data_match")
PROVINCES = {"shanxi": ("140402", "1404"), "hunan": ("430102", "4301")}
# Who posts each channel in the per-channel tests (data_match only for a Hunan recipient).
POSTERS: dict[str, tuple[Role, tuple[str, ...]]] = {
    "face": (Role.MOBILE, ()),
    "consular_app": (Role.MOBILE, ()),
    "manual": (Role.COUNTY, ("1404",)),
    "grassroots_terminal": (Role.COUNTY, ("1404",)),
    "home_visit": (Role.COUNTY, ("1404",)),
    "data_match": (Role.DATA_EXCHANGE, ("43",)),
}


# --- helpers --------------------------------------------------------------------------------


def at(offset: timedelta) -> str:
    """NOW shifted by offset, as an RFC 3339 instant."""
    return (datetime.fromisoformat(NOW) + offset).isoformat()


async def _register(api: Api, province: str = "shanxi", **overrides: Any) -> dict[str, Any]:
    """A recipient paid by the province's agency, registered by a county client there."""
    agency, region = PROVINCES[province]
    county = await api.new_client(Role.COUNTY, (region,))
    overrides.setdefault("benefits", [benefit(agency_code=agency)])
    body = recipient(overrides.pop("number", None) or id_number(agency), **overrides)
    response = await county.post("/v1/recipients", json=body)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


async def _person(api: Api, province: str = "shanxi", **overrides: Any) -> str:
    return str((await _register(api, province, **overrides))["recipient_id"])


async def _created(
    client: httpx.AsyncClient, body: dict[str, Any], status: int = 201, **kwargs: Any
) -> dict[str, Any]:
    response = await client.post("/v1/certifications", json=body, **kwargs)
    assert response.status_code == status, response.text
    created: dict[str, Any] = response.json()
    return created


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    return problem


def _valid_through(certification_read: dict[str, Any]) -> list[str | None]:
    return [item["valid_through"] for item in certification_read["benefits"]]


async def _stored(api: Api, recipient_id: str) -> list[dict[str, Any]]:
    """Every certification of the recipient, newest first, as an admin lists them."""
    admin = await api.new_client(Role.ADMIN)
    response = await admin.get(
        f"/v1/recipients/{recipient_id}/certifications", params={"limit": 500}
    )
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _reader(api: Api) -> httpx.AsyncClient:
    """Eligibility is read by the payment system (and mobile apps), not by counties."""
    return await api.new_client(Role.PAYMENT)


async def _eligibility(client: httpx.AsyncClient, recipient_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/recipients/{recipient_id}/eligibility")
    assert response.status_code == 200, response.text
    first: dict[str, Any] = response.json()["benefits"][0]
    return first


# --- 1. every channel and mode: a valid example, and invalid ones ---------------------------


@dataclass(frozen=True)
class ChannelCase:
    """One channel (and mode): a valid details maker, and what dropping evidence breaks."""

    id: str
    channel: str
    details: Callable[[], dict[str, Any]]
    missing: tuple[str, ...]
    """Required evidence to drop for the invalid example..."""
    missing_loc: tuple[str, ...]
    """...and where the error points, below the details (empty: the details as a whole)."""
    mode: str | None = None

    @property
    def province(self) -> str:
        return "hunan" if self.channel == "data_match" else "shanxi"

    @property
    def residence(self) -> str:
        """Where the channel's or mode's recipient lives (docs/policy.md §4, §4.2)."""
        if self.channel == "consular_app" or self.mode == "overseas_embassy_form":
            return "overseas"
        return "out_of_province" if self.mode == "out_of_province_online" else "in_province"

    def loc(self, *tail: str) -> list[str]:
        """A location in a POST body: manual and terminal details are tagged with their mode
        (both are unions discriminated on it)."""
        tagged = self.channel in ("manual", "grassroots_terminal")
        tag = (self.mode,) if tagged and self.mode else ()
        return ["body", self.channel, "details", *tag, *tail]


_MANUAL_MISSING = {
    "window": ("photo_ref",),  # optional elsewhere, required at a window
    "verified_by_grid_worker": ("verifier_id",),
    "verified_by_employer": ("verifier_id",),
    "out_of_province_online": ("review_ref",),
    "overseas_embassy_form": ("form_serial",),
    "assisted": ("assistant_name", "assistant_id"),  # one of them is required
}
_TERMINAL_MISSING = {
    "service_point_staff": ("operator",),  # staffed modes name the operator
    "self_service_terminal": ("terminal_id",),
    "bank_branch": ("operator",),
}


def _missing_loc(missing: tuple[str, ...]) -> tuple[str, ...]:
    """A single missing field is named; a missing either-or is the object's own error."""
    return missing if len(missing) == 1 else ()


CASES = [
    ChannelCase("face", "face", face_details, ("country",), ("country",)),
    ChannelCase("consular_app", "consular_app", consular_details, ("consulate",), ("consulate",)),
    *(
        ChannelCase(
            f"manual-{mode}",
            "manual",
            partial(manual_details, mode),
            _MANUAL_MISSING[mode],
            _missing_loc(_MANUAL_MISSING[mode]),
            mode,
        )
        for mode in MANUAL_MODES
    ),
    *(
        ChannelCase(
            f"grassroots_terminal-{mode}",
            "grassroots_terminal",
            partial(terminal_details, mode),
            _TERMINAL_MISSING[mode],
            # A staffed mode's operator is a required field of its schema, named as such.
            _TERMINAL_MISSING[mode],
            mode,
        )
        for mode in TERMINAL_MODES
    ),
    ChannelCase("home_visit", "home_visit", home_visit_details, ("photo_ref",), ("photo_ref",)),
    ChannelCase("data_match", "data_match", data_match_details, ("record_ref",), ("record_ref",)),
]


def test_the_cases_cover_every_channel_and_mode() -> None:
    assert {case.channel for case in CASES} == set(CHANNELS)
    assert {case.mode for case in CASES if case.channel == "manual"} == set(MANUAL_MODES)
    assert {case.mode for case in CASES if case.channel == "grassroots_terminal"} == set(
        TERMINAL_MODES
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_a_valid_certification_of_each_channel_counts_and_keeps_its_details(
    api: Api, case: ChannelCase
) -> None:
    api.set_now(NOW)
    person = await _person(api, case.province, residence=case.residence)
    client = await api.new_client(*POSTERS[case.channel])
    details = case.details()

    posted = await _created(client, certification(person, case.channel, details))
    assert posted["recipient_id"] == person
    assert (posted["channel"], posted["result"], posted["counted"]) == (
        case.channel,
        "passed",
        True,
    )
    assert posted["warnings"] == []
    assert posted["revocation"] is None
    assert posted["details"] == details
    assert _valid_through(posted) == [JUNE_VALID_THROUGH]

    read = await client.get(f"/v1/certifications/{posted['certification_id']}")
    assert read.status_code == 200, read.text
    assert read.json()["details"] == details
    assert read.json()["counted"] is True
    assert read.json()["recorded_by"] == posted["recorded_by"]


@pytest.mark.parametrize("flaw", ["missing_evidence", "unknown_field"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_invalid_details_of_each_channel_are_a_422_that_locates_the_error(
    api: Api, case: ChannelCase, flaw: str
) -> None:
    api.set_now(NOW)
    person = await _person(api, case.province, residence=case.residence)
    client = await api.new_client(*POSTERS[case.channel])
    details = case.details()
    if flaw == "missing_evidence":
        for key in case.missing:
            del details[key]
        expected = case.loc(*case.missing_loc)
    else:
        details["remarks"] = "a misspelt or invented key is refused, not dropped"
        expected = case.loc("remarks")

    response = await client.post(
        "/v1/certifications", json=certification(person, case.channel, details)
    )
    problem = _problem(response, 422, "validation_error")
    assert [error["loc"] for error in problem["errors"]] == [expected]
    assert await _stored(api, person) == []


# --- 2. roles -------------------------------------------------------------------------------

ALLOWED_CHANNELS = {
    Role.MOBILE: {"face", "consular_app"},
    Role.COUNTY: {"manual", "grassroots_terminal", "home_visit"},
    Role.DATA_EXCHANGE: {"data_match"},
    Role.PAYMENT: set(),
}
ROLE_REGIONS = {Role.MOBILE: (), Role.COUNTY: ("4301",), Role.DATA_EXCHANGE: ("43",)}


@pytest.mark.parametrize("role", list(ALLOWED_CHANNELS), ids=str)
async def test_each_role_posts_only_its_own_channels(api: Api, role: Role) -> None:
    """A Hunan recipient, whose policy accepts every channel: only the role decides."""
    api.set_now(NOW)
    person = await _person(api, "hunan")
    client = await api.new_client(role, ROLE_REGIONS.get(role, ()))
    for channel in CHANNELS:
        response = await client.post(
            "/v1/certifications", json=certification(person, channel, details_for(channel))
        )
        if channel in ALLOWED_CHANNELS[role]:
            assert response.status_code == 201, (channel, response.text)
        else:
            _problem(response, 403, "forbidden_role")
    stored = await _stored(api, person)
    assert sorted(item["channel"] for item in stored) == sorted(ALLOWED_CHANNELS[role])


# --- 3. regions: 全省通办 for in-person channels, own regions for data and revocation ------


@pytest.mark.parametrize("channel", ["manual", "grassroots_terminal", "home_visit"])
async def test_a_county_client_certifies_in_person_anywhere_in_its_province(
    api: Api, channel: str
) -> None:
    api.set_now(NOW)
    person = await _person(api)  # paid by 140402 (Changzhi)
    taiyuan = await api.new_client(Role.COUNTY, ("1401",))
    posted = await _created(taiyuan, certification(person, channel, details_for(channel)))
    assert posted["counted"] is True
    assert _valid_through(posted) == [JUNE_VALID_THROUGH]


async def test_a_county_client_of_another_province_gets_forbidden_region(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    changsha = await api.new_client(Role.COUNTY, ("4301",))
    response = await changsha.post(
        "/v1/certifications", json=certification(person, "manual", manual_details())
    )
    _problem(response, 403, "forbidden_region")
    assert await _stored(api, person) == []


async def test_data_exchange_posts_only_within_its_own_regions(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api, "hunan")  # paid by 430102
    xiangtan = await api.new_client(Role.DATA_EXCHANGE, ("4302",))
    response = await xiangtan.post(
        "/v1/certifications", json=certification(person, "data_match", data_match_details())
    )
    _problem(response, 403, "forbidden_region")
    assert await _stored(api, person) == []
    changsha = await api.new_client(Role.DATA_EXCHANGE, ("4301",))
    await _created(changsha, certification(person, "data_match", data_match_details()))


async def test_revocation_stays_within_the_clients_own_regions(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    taiyuan = await api.new_client(Role.COUNTY, ("1401",))
    posted = await _created(changzhi, certification(person, "manual", manual_details()))
    path = f"/v1/certifications/{posted['certification_id']}"

    refused = await taiyuan.post(f"{path}/revoke", json={"reason": "entered in error"})
    _problem(refused, 403, "forbidden_region")
    unchanged = (await changzhi.get(path)).json()
    assert (unchanged["revocation"], unchanged["counted"]) == (None, True)


@pytest.mark.parametrize("role", [Role.MOBILE, Role.DATA_EXCHANGE, Role.PAYMENT], ids=str)
async def test_only_county_clients_revoke(api: Api, role: Role) -> None:
    api.set_now(NOW)
    person = await _person(api)
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    posted = await _created(changzhi, certification(person, "manual", manual_details()))
    client = await api.new_client(role, ("14",) if role is Role.DATA_EXCHANGE else ())
    path = f"/v1/certifications/{posted['certification_id']}"
    _problem(await client.post(f"{path}/revoke", json={"reason": "x"}), 403, "forbidden_role")
    assert (await changzhi.get(path)).json()["revocation"] is None


async def test_revoking_withdraws_the_validity_and_keeps_the_record(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    april = await _created(
        changzhi,
        certification(person, "manual", manual_details(), occurred_at="2026-04-15T09:00:00+08:00"),
    )
    june = await _created(changzhi, certification(person, "manual", manual_details()))
    assert (await _eligibility(await _reader(api), person))["last_certification"][
        "certification_id"
    ] == (june["certification_id"])
    path = f"/v1/certifications/{june['certification_id']}"

    revoked = await changzhi.post(f"{path}/revoke", json={"reason": "impostor at the window"})
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["counted"] is False
    assert body["revocation"]["reason"] == "impostor at the window"
    assert body["revocation"]["revoked_by"] == june["recorded_by"]  # the same 1404 client
    assert datetime.fromisoformat(body["revocation"]["revoked_at"]) == datetime.fromisoformat(NOW)
    assert _valid_through(body) == [APRIL_VALID_THROUGH]

    kept = (await changzhi.get(path)).json()
    assert (kept["counted"], kept["details"]) == (False, june["details"])
    assert kept["revocation"]["reason"] == "impostor at the window"
    assert datetime.fromisoformat(kept["revocation"]["revoked_at"]) == datetime.fromisoformat(NOW)
    last = (await _eligibility(await _reader(api), person))["last_certification"]
    assert last["certification_id"] == april["certification_id"]
    assert [item["certification_id"] for item in await _stored(api, person)] == [
        june["certification_id"],
        april["certification_id"],
    ]

    again = await changzhi.post(f"{path}/revoke", json={"reason": "twice"})
    _problem(again, 409, "already_revoked")
    assert (await changzhi.get(path)).json()["revocation"]["reason"] == "impostor at the window"


async def test_revoking_the_only_certification_leaves_no_last_certification(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    posted = await _created(changzhi, certification(person, "manual", manual_details()))
    revoked = await changzhi.post(
        f"/v1/certifications/{posted['certification_id']}/revoke", json={"reason": "duplicate"}
    )
    assert revoked.status_code == 200, revoked.text
    assert _valid_through(revoked.json()) == [None]
    answer = await _eligibility(await _reader(api), person)
    assert (answer["last_certification"], answer["valid_through"]) == (None, None)


# --- 4. policies decide which channels count ------------------------------------------------


async def test_a_channel_the_recipients_policy_does_not_accept_is_refused(api: Api) -> None:
    """Shanxi's notice has no passive data matching; admin may post any channel."""
    api.set_now(NOW)
    person = await _person(api)
    admin = await api.new_client(Role.ADMIN)
    response = await admin.post(
        "/v1/certifications", json=certification(person, "data_match", data_match_details())
    )
    problem = _problem(response, 422, "channel_not_accepted")
    assert "shanxi-2026" in problem["detail"]
    assert await _stored(api, person) == []


# --- 5. scores and results ------------------------------------------------------------------


@pytest.mark.parametrize(
    "scores",
    [{"similarity": 0.79}, {"liveness": 0.89}, {"similarity": 0.5, "liveness": 0.5}],
    ids=["similarity", "liveness", "both"],
)
async def test_a_passed_face_below_the_policy_minimum_is_stored_failed_and_not_counted(
    api: Api, scores: dict[str, float]
) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    body = certification(person, "face", face_details(**scores), EARLIER_TODAY)
    posted = await _created(mobile, body)
    assert (posted["result"], posted["counted"], posted["warnings"]) == (
        "failed",
        False,
        ["below_threshold"],
    )
    assert _valid_through(posted) == [None]
    assert {name: posted["details"][name] for name in scores} == scores  # kept as sent
    assert (await _eligibility(mobile, person))["last_certification"] is None


async def test_scores_exactly_at_the_policy_minimum_count(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    posted = await _created(mobile, face(person, EARLIER_TODAY, similarity=0.80, liveness=0.90))
    assert (posted["result"], posted["counted"], posted["warnings"]) == ("passed", True, [])
    assert _valid_through(posted) == [JUNE_VALID_THROUGH]


@pytest.mark.parametrize("channel", ["face", "manual", "home_visit"])
async def test_a_failed_result_never_counts(api: Api, channel: str) -> None:
    api.set_now(NOW)
    person = await _person(api)
    client = await api.new_client(*POSTERS[channel])
    body = certification(person, channel, details_for(channel), result="failed")
    posted = await _created(client, body)
    assert (posted["result"], posted["counted"], posted["warnings"]) == ("failed", False, [])
    assert _valid_through(posted) == [None]
    assert (await _eligibility(await _reader(api), person))["last_certification"] is None


# --- 6. time --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (timedelta(minutes=10), "occurred_in_future"),
        (timedelta(minutes=5, seconds=1), "occurred_in_future"),
        (timedelta(minutes=5), None),
        (timedelta(minutes=4), None),
        (-timedelta(days=90), None),
        (-timedelta(days=91), "too_old"),
    ],
    ids=["10min-ahead", "just-past-tolerance", "at-tolerance", "4min-ahead", "90d", "91d"],
)
async def test_occurred_at_must_lie_within_the_backdate_window_and_future_tolerance(
    api: Api, offset: timedelta, code: str | None
) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    response = await mobile.post("/v1/certifications", json=face(person, at(offset)))
    if code is None:
        assert response.status_code == 201, response.text
        assert response.json()["counted"] is True
        assert len(await _stored(api, person)) == 1
    else:
        _problem(response, 422, code)
        assert await _stored(api, person) == []


# --- 7. consular app ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("residence", "warnings"),
    [("in_province", ["residence_mismatch"]), ("out_of_province", ["residence_mismatch"]),
     ("overseas", [])],
)  # fmt: skip
async def test_a_consular_certification_counts_and_flags_a_registry_residence_mismatch(
    api: Api, residence: str, warnings: list[str]
) -> None:
    api.set_now(NOW)
    person = await _person(api, residence=residence)
    mobile = await api.new_client(Role.MOBILE)
    posted = await _created(mobile, certification(person, "consular_app", consular_details()))
    assert (posted["counted"], posted["warnings"]) == (True, warnings)
    assert _valid_through(posted) == [JUNE_VALID_THROUGH]


# --- 8. exactly once ------------------------------------------------------------------------


async def test_resending_the_same_source_ref_and_body_answers_200_with_the_original(
    api: Api,
) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    body = face(person, EARLIER_TODAY, source_ref="msx-replay-1")
    first = await _created(mobile, body)
    again = await _created(mobile, body, status=200)
    assert again == first
    assert [item["certification_id"] for item in await _stored(api, person)] == [
        first["certification_id"]
    ]


async def test_reusing_a_source_ref_with_a_different_body_is_an_idempotency_conflict(
    api: Api,
) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    first = await _created(mobile, face(person, EARLIER_TODAY, source_ref="msx-conflict-1"))
    response = await mobile.post(
        "/v1/certifications",
        json=face(person, EARLIER_TODAY, source_ref="msx-conflict-1", similarity=0.95),
    )
    _problem(response, 409, "idempotency_conflict")
    stored = await _stored(api, person)
    assert [item["certification_id"] for item in stored] == [first["certification_id"]]
    assert stored[0]["details"]["similarity"] == 0.93


async def test_source_refs_are_per_client(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    one, other = await api.new_client(Role.MOBILE), await api.new_client(Role.MOBILE)
    body = face(person, EARLIER_TODAY, source_ref="shared-ref-1")
    first = await _created(one, body)
    second = await _created(other, body)
    assert second["certification_id"] != first["certification_id"]
    assert second["recorded_by"] != first["recorded_by"]
    assert len(await _stored(api, person)) == 2


async def test_an_idempotency_key_header_without_source_ref_is_honoured(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    body = face(person, EARLIER_TODAY)
    del body["source_ref"]
    key = {"Idempotency-Key": "retry-key-1"}

    first = await _created(mobile, body, headers=key)
    assert first["source_ref"] is None
    again = await _created(mobile, body, status=200, headers=key)
    assert again["certification_id"] == first["certification_id"]
    changed = {**body, "occurred_at": "2026-06-10T08:00:00+08:00"}
    conflict = await mobile.post("/v1/certifications", json=changed, headers=key)
    _problem(conflict, 409, "idempotency_conflict")
    assert [item["certification_id"] for item in await _stored(api, person)] == [
        first["certification_id"]
    ]
    # Another key is another certification.
    await _created(mobile, body, headers={"Idempotency-Key": "retry-key-2"})
    assert len(await _stored(api, person)) == 2


# --- 9. concurrency (real commits) ----------------------------------------------------------


async def _count_rows(database: Database, recipient_id: str) -> int:
    async with database.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count())
            .select_from(Certification)
            .where(Certification.recipient_id == uuid.UUID(recipient_id))
        )
    return int(count or 0)


@pytest.mark.parametrize("key", ["source_ref", "idempotency_key"])
async def test_twenty_racing_copies_of_one_certification_store_it_once(
    committing_api: Api, database: Database, key: str
) -> None:
    committing_api.set_now(NOW)
    person = await _person(committing_api)
    mobile = await committing_api.new_client(Role.MOBILE)
    body = face(person, EARLIER_TODAY, source_ref="msx-race-1")
    headers = {}
    if key == "idempotency_key":
        del body["source_ref"]
        headers["Idempotency-Key"] = "race-key-1"
    responses = await asyncio.gather(
        *(mobile.post("/v1/certifications", json=body, headers=headers) for _ in range(20))
    )
    assert sorted(response.status_code for response in responses) == [200] * 19 + [201], [
        response.text for response in responses if response.status_code not in (200, 201)
    ]
    assert len({response.json()["certification_id"] for response in responses}) == 1
    assert await _count_rows(database, person) == 1


async def test_two_different_certifications_racing_are_both_stored(
    committing_api: Api, database: Database
) -> None:
    committing_api.set_now(NOW)
    person = await _person(committing_api)
    mobile = await committing_api.new_client(Role.MOBILE)
    older = face(person, "2026-04-15T09:00:00+08:00")
    newer = face(person, EARLIER_TODAY)
    responses = await asyncio.gather(
        mobile.post("/v1/certifications", json=older),
        mobile.post("/v1/certifications", json=newer),
    )
    assert [response.status_code for response in responses] == [201, 201], [
        response.text for response in responses
    ]
    assert await _count_rows(database, person) == 2
    answer = await _eligibility(mobile, person)
    assert answer["valid_through"] == JUNE_VALID_THROUGH
    newer_id = responses[1].json()["certification_id"]
    assert answer["last_certification"]["certification_id"] == newer_id


async def test_racing_revocations_of_one_certification_revoke_it_once(
    committing_api: Api,
) -> None:
    committing_api.set_now(NOW)
    person = await _person(committing_api)
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    outcomes = []
    for _ in range(10):  # several pairs, so the race is met on every run
        posted = await _created(county, certification(person, "manual", manual_details()))
        path = f"/v1/certifications/{posted['certification_id']}/revoke"
        responses = await asyncio.gather(
            county.post(path, json={"reason": "first"}),
            county.post(path, json={"reason": "second"}),
        )
        outcomes.append(sorted(response.status_code for response in responses))
    assert outcomes == [[200, 409]] * 10


async def test_a_committed_batch_keeps_its_good_items_around_failing_ones(
    committing_api: Api, database: Database
) -> None:
    committing_api.set_now(NOW)
    person = await _person(committing_api)
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    good = certification(person, "manual", manual_details(), source_ref="committed-1")
    clash = {**good, "occurred_at": "2026-06-10T08:00:00+08:00"}
    later = certification(person, "home_visit", home_visit_details(), source_ref="committed-2")
    items = [good, face(person, EARLIER_TODAY), clash, later]
    response = await county.post("/v1/certifications/batch", json={"items": items})
    assert response.status_code == 200, response.text
    assert [result["status"] for result in response.json()["results"]] == [201, 403, 409, 201]
    assert await _count_rows(database, person) == 2
    stored = await _stored(committing_api, person)
    assert sorted(item["source_ref"] for item in stored) == ["committed-1", "committed-2"]


# --- 10. validity moves at once -------------------------------------------------------------


async def test_a_newer_certification_moves_validity_and_a_late_older_one_never_shortens_it(
    api: Api,
) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    april = await _created(mobile, face(person, "2026-04-15T09:00:00+08:00"))
    assert _valid_through(april) == [APRIL_VALID_THROUGH]
    june = await _created(mobile, face(person, EARLIER_TODAY))
    assert _valid_through(june) == [JUNE_VALID_THROUGH]
    late_may = await _created(mobile, face(person, "2026-05-20T09:00:00+08:00"))
    assert late_may["counted"] is True
    assert _valid_through(late_may) == [JUNE_VALID_THROUGH]
    answer = await _eligibility(mobile, person)
    assert answer["valid_through"] == JUNE_VALID_THROUGH
    assert answer["last_certification"]["certification_id"] == june["certification_id"]


# --- 11. batch ------------------------------------------------------------------------------


async def test_a_batch_answers_each_item_on_its_own_and_keeps_the_good_ones(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    county = await api.new_client(Role.COUNTY, ("1404",))
    good = certification(person, "manual", manual_details(), source_ref="batch-good-1")
    other = certification(person, "home_visit", home_visit_details(), source_ref="batch-good-2")
    invalid = certification(person, "manual", manual_details(photo_ref=None))
    unknown = certification(str(uuid.uuid4()), "manual", manual_details())
    wrong_role = face(person, EARLIER_TODAY)
    items = [good, good, invalid, unknown, wrong_role, other]

    response = await county.post("/v1/certifications/batch", json={"items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [
        (0, 201), (1, 200), (2, 422), (3, 404), (4, 403), (5, 201)
    ]  # fmt: skip
    assert [r["problem"]["code"] if r.get("problem") else None for r in results] == [
        None, None, "validation_error", "not_found", "forbidden_role", None
    ]  # fmt: skip
    assert [r.get("certification") is not None for r in results] == [
        True, True, False, False, False, True
    ]  # fmt: skip
    assert [error["loc"] for error in results[2]["problem"]["errors"]] == [
        ["manual", "details", "window", "photo_ref"]
    ]
    first, replay, last = results[0]["certification"], results[1], results[5]["certification"]
    assert replay["certification"]["certification_id"] == first["certification_id"]
    assert (first["source_ref"], first["details"]) == ("batch-good-1", good["details"])

    for created in (first, last):
        read = await county.get(f"/v1/certifications/{created['certification_id']}")
        assert read.status_code == 200, read.text
        assert read.json()["details"] == created["details"]
    stored = await _stored(api, person)
    assert sorted(item["source_ref"] for item in stored) == ["batch-good-1", "batch-good-2"]


@pytest.mark.parametrize("count", [0, 1001])
async def test_a_batch_holds_one_to_a_thousand_items(api: Api, count: int) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    items = [face(person, EARLIER_TODAY, source_ref=f"bulk-{n}") for n in range(count)]
    response = await mobile.post("/v1/certifications/batch", json={"items": items})
    problem = _problem(response, 422, "validation_error")
    assert [error["loc"] for error in problem["errors"]] == [["body", "items"]]
    assert await _stored(api, person) == []


# --- 12. listing ----------------------------------------------------------------------------


async def test_listing_is_newest_first_and_pages_cover_every_attempt_once(api: Api) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile = await api.new_client(Role.MOBILE)
    county = await api.new_client(Role.COUNTY, ("1404",))
    occurred = {  # posting order; "tie_a" and "tie_b" are one instant in two offsets
        "may_failed": "2026-05-20T12:00:00+08:00",
        "newest": "2026-06-09T09:00:00+08:00",
        "tie_a": "2026-06-01T00:30:00Z",
        "oldest": "2026-04-02T10:00:00+08:00",
        "tie_b": "2026-06-01T08:30:00+08:00",
    }
    ids: dict[str, str] = {}
    for name, instant in occurred.items():
        result = "failed" if name == "may_failed" else "passed"
        body = certification(person, "face", face_details(), instant, result=result)
        ids[name] = (await _created(mobile, body))["certification_id"]
    ties = sorted([ids["tie_a"], ids["tie_b"]], key=uuid.UUID, reverse=True)
    expected = [ids["newest"], *ties, ids["may_failed"], ids["oldest"]]

    path = f"/v1/recipients/{person}/certifications"
    everything = (await county.get(path)).json()
    assert [item["certification_id"] for item in everything["items"]] == expected
    assert everything["next_cursor"] is None
    failed = next(
        item for item in everything["items"] if item["certification_id"] == ids["may_failed"]
    )
    assert (failed["result"], failed["counted"]) == ("failed", False)

    pages: list[list[str]] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        page = await county.get(path, params=params)
        assert page.status_code == 200, page.text
        pages.append([item["certification_id"] for item in page.json()["items"]])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        params = {"limit": 2, "cursor": cursor}
        assert len(pages) < 5, "pagination does not end"
    assert pages == [expected[0:2], expected[2:4], expected[4:5]]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _b64("hello"),
        _b64(f"yesterday|{uuid.uuid4()}"),
        _b64("2026-06-01T00:00:00+00:00|not-a-uuid"),
        "\u00e9t\u00e9",
    ],
    ids=["plain", "no-separator", "bad-instant", "bad-id", "non-ascii"],
)
async def test_a_cursor_the_service_did_not_issue_is_invalid_cursor(api: Api, cursor: str) -> None:
    person = await _person(api)
    county = await api.new_client(Role.COUNTY, ("1404",))
    response = await county.get(
        f"/v1/recipients/{person}/certifications", params={"cursor": cursor}
    )
    _problem(response, 422, "invalid_cursor")


async def test_a_well_formed_forged_cursor_never_causes_a_server_error(api: Api) -> None:
    """A cursor that decodes to an instant before year 1 in UTC."""
    api.set_now(NOW)
    person = await _person(api)
    county = await api.new_client(Role.COUNTY, ("1404",))
    await _created(county, certification(person, "manual", manual_details()))
    cursor = _b64(f"0001-01-01T00:00:00+14:00|{uuid.uuid4()}")
    response = await county.get(
        f"/v1/recipients/{person}/certifications", params={"cursor": cursor}
    )
    _problem(response, 422, "invalid_cursor")


@pytest.mark.parametrize("limit", [0, 501, -1])
async def test_a_limit_outside_one_to_five_hundred_is_refused(api: Api, limit: int) -> None:
    person = await _person(api)
    county = await api.new_client(Role.COUNTY, ("1404",))
    response = await county.get(f"/v1/recipients/{person}/certifications", params={"limit": limit})
    problem = _problem(response, 422, "validation_error")
    assert [error["loc"] for error in problem["errors"]] == [["query", "limit"]]


# --- 13. reading ----------------------------------------------------------------------------


async def test_a_certification_is_read_by_its_poster_and_by_no_other_mobile_client(
    api: Api,
) -> None:
    api.set_now(NOW)
    person = await _person(api)
    mobile, other = await api.new_client(Role.MOBILE), await api.new_client(Role.MOBILE)
    posted = await _created(mobile, face(person, EARLIER_TODAY))
    path = f"/v1/certifications/{posted['certification_id']}"

    own = await mobile.get(path)
    assert own.status_code == 200, own.text
    assert own.json() == posted
    _problem(await other.get(path), 404, "not_found")
    payment = await api.new_client(Role.PAYMENT)
    _problem(await payment.get(path), 403, "forbidden_role")
    _problem(await mobile.get(f"/v1/certifications/{uuid.uuid4()}"), 404, "not_found")


# --- 14. the ID number is never echoed ------------------------------------------------------


async def test_posting_by_id_number_never_echoes_the_number(api: Api) -> None:
    api.set_now(NOW)
    number = id_number()
    person = await _person(api, number=number)
    mobile = await api.new_client(Role.MOBILE)
    county = await api.new_client(Role.COUNTY, ("1404",))
    body = face(person, EARLIER_TODAY, source_ref="by-number-1")
    del body["recipient_id"]
    body["id_number"] = number

    created = await mobile.post("/v1/certifications", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["recipient_id"] == person
    path = f"/v1/certifications/{created.json()['certification_id']}"
    invalid = {**body, "source_ref": "by-number-2", "details": {**body["details"], "x": 1}}
    both = {**body, "source_ref": "by-number-3", "recipient_id": person}
    unknown = {**body, "source_ref": "by-number-4", "id_number": id_number()}
    responses = {
        "created": created,
        "replay": await mobile.post("/v1/certifications", json=body),
        "conflict": await mobile.post(
            "/v1/certifications", json={**body, "occurred_at": "2026-06-10T08:00:00+08:00"}
        ),
        "read": await mobile.get(path),
        "list": await county.get(f"/v1/recipients/{person}/certifications"),
        "invalid": await mobile.post("/v1/certifications", json=invalid),
        "both_keys": await mobile.post("/v1/certifications", json=both),
        "unknown": await mobile.post("/v1/certifications", json=unknown),
        "batch": await mobile.post(
            "/v1/certifications/batch", json={"items": [body, invalid, both, unknown]}
        ),
    }
    assert {name: r.status_code for name, r in responses.items()} == {
        "created": 201, "replay": 200, "conflict": 409, "read": 200, "list": 200,
        "invalid": 422, "both_keys": 422, "unknown": 404, "batch": 200,
    }  # fmt: skip
    assert [r["status"] for r in responses["batch"].json()["results"]] == [200, 422, 422, 404]
    for name, response in responses.items():
        assert number not in response.text, name
        assert number[:17] not in response.text, name


async def test_a_data_match_counts_from_its_evidence_date_and_old_evidence_is_refused(
    api: Api,
) -> None:
    """Hunan 二(二): "每月定期开展各类共享数据的比对……对符合认证条件的人员自动递延认证有效期".
    A batch matched 2026-11-20 with evidence dated 2026-01-15 would have made a 12-month
    pension valid through 2027-10-31: ten months with no proof of life. Evidence of the month
    before the batch's month (2026-10-28) counts from its own date, valid through 2027-09-30;
    evidence
    dated after the match, or before the month before it, is refused with its code."""
    api.set_now("2026-11-20T10:00:00+08:00")
    pension = benefit(agency_code="430102", benefit_type="enterprise_pension")
    person = await _person(api, "hunan", benefits=[pension])
    exchange = await api.new_client(Role.DATA_EXCHANGE, ("43",))
    batch_time = "2026-11-20T09:00:00+08:00"

    old = certification(
        person, "data_match", data_match_details(evidence_date="2026-01-15"), batch_time
    )
    _problem(await exchange.post("/v1/certifications", json=old), 422, "evidence_too_old")
    later = certification(
        person, "data_match", data_match_details(evidence_date="2026-11-21"), batch_time
    )
    _problem(await exchange.post("/v1/certifications", json=later), 422, "evidence_after_match")

    fresh = certification(
        person, "data_match", data_match_details(evidence_date="2026-10-28"), batch_time
    )
    posted = await _created(exchange, fresh)
    assert posted["counted"] is True
    assert posted["warnings"] == ["counted_from_evidence_date"]
    assert datetime.fromisoformat(posted["occurred_at"]) == datetime.fromisoformat(
        "2026-10-28T00:00:00+08:00"
    )
    assert _valid_through(posted) == ["2027-09-30"]
    assert (await _stored(api, person))[0]["details"]["evidence_date"] == "2026-10-28"
