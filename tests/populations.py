"""The pieces of a generated population that the agreement tests (payment runs, statistics)
post through the API: benefits drawn at random, revocations, stop reports, and the posting of
every event in time order. Each test keeps its own seed, sizes and draws; these helpers draw
from the generator in the order the tests always did, so that a seed means the same people."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.domain.enums import BenefitType
from tests.conftest import Api
from tests.factories import benefit

BENEFIT_TYPES: tuple[str, ...] = tuple(kind.value for kind in BenefitType)

# The statistics field (GET /v1/stats) that counts each standing (docs/reporting.md).
STANDINGS = {
    "valid": "valid",
    "due": "due_within_lead_time",
    "suspended": "suspended",
    "stopped": "stopped",
    "awaiting_first_certification": "awaiting_first_certification",
    "not_required": "not_required",
}

# A request to make at a given instant, once the clock has been set to it.
Post = Callable[[], Awaitable[httpx.Response]]


def random_kinds(rng: random.Random) -> list[str]:
    """One benefit type, or (one time in three) two different ones."""
    return rng.sample(BENEFIT_TYPES, rng.choice((1, 1, 2)))


def random_benefit(
    rng: random.Random,
    kind: str,
    county: str,
    external_ref: str,
    *,
    starts: Sequence[str],
    approved_above: float,
    funeral_flags: Sequence[bool | None],
) -> dict[str, Any]:
    """A benefit body with its start, approval and (resident pension only) funeral-subsidy
    flag drawn at random."""
    return benefit(
        benefit_type=kind,
        agency_code=county,
        start_date=rng.choice(starts),
        approved=rng.random() > approved_above,
        external_ref=external_ref,
        funeral_subsidy_area=rng.choice(funeral_flags) if kind == "resident_pension" else None,
    )


async def revoke_if_made(admin: httpx.AsyncClient, certified: httpx.Response) -> None:
    """Revoke the certification that ``certified`` answered, if one was made."""
    if certified.status_code != 201:
        return
    certification = certified.json()["certification_id"]
    revoked = await admin.post(
        f"/v1/certifications/{certification}/revoke", json={"reason": "photo mismatch"}
    )
    assert revoked.status_code == 200, revoked.text


def stop_report(
    admin: httpx.AsyncClient, rid: str, reason: str, on: str, suspected: bool = False
) -> Post:
    """A stop report of the family, or (``suspected``) a suspicion from a data match."""
    body = {
        "recipient_id": rid,
        "reason": reason,
        "occurred_on": on,
        "reported_by": "data_match" if suspected else "family",
        "suspected": suspected,
    }
    return lambda: admin.post("/v1/stop-reports", json=body)


async def post_in_time_order(api: Api, events: list[tuple[str, Post]], after: timedelta) -> None:
    """Post every event ``after`` its instant, earliest first; each must be taken, except a
    self-service certification refused while an imprisonment report stands."""
    for when, post in sorted(events, key=lambda event: event[0]):
        api.set_now(datetime.fromisoformat(when) + after)
        answer = await post()
        refused = answer.status_code == 422 and answer.json()["code"] == "documents_required"
        assert answer.status_code in (200, 201) or refused, answer.text
