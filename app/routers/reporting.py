"""Reminders, statistics and risk signals for a region (API.md, "Reminders, notices,
reporting"; choices in docs/reporting.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import NowDep, PoliciesDep, PrincipalDep, ProtectorDep, SessionDep
from app.routers.responses import problems
from app.schemas.common import CursorText, Day, Page, RegionPrefix
from app.schemas.reporting import ReminderItem, RiskSignals, RiskThresholds, Stats
from app.services.eligibility.policies import today
from app.services.reporting import risk_signals, stats
from app.services.reporting import scans as service

router = APIRouter(tags=["reporting"])
NDJSON = "application/x-ndjson"
OnQuery = Annotated[Day | None, Query(description="the day reported on; default today")]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[CursorText | None, Query()]
Accept = Annotated[str | None, Header()]
T = TypeVar("T", bound=BaseModel)


def listing_responses(model: type[object]) -> dict[int | str, dict[str, object]]:
    """A page as JSON, or every item as NDJSON when the client accepts it."""
    return {
        200: {
            "model": model,
            "description": f"A page, or with `Accept: {NDJSON}` every item, one per line",
            "content": {"application/json": {}, NDJSON: {}},
        },
        **problems(403, 422),
    }


async def served(
    listing: service.Listing[T],
    request: Request,
    session: AsyncSession,
    limit: int,
    cursor: str | None,
    accept: str | None,
) -> Page[T] | StreamingResponse:
    """A page of ``listing``, or with `Accept: application/x-ndjson` every item, one per line
    (`listing_responses`)."""
    if accept and NDJSON in accept:
        return StreamingResponse(listing.stream(request.state.sessionmaker), media_type=NDJSON)
    return await listing.page(session, limit, cursor)


@router.get(
    "/v1/reminders",
    response_model=Page[ReminderItem],
    responses=listing_responses(Page[ReminderItem]),
    summary="Benefits due for certification soon, and suspended ones",
)
async def get_reminders(
    agency_code: Annotated[RegionPrefix, Query()],
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    policies: PoliciesDep,
    now: NowDep,
    on: OnQuery = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    accept: Accept = None,
) -> Page[ReminderItem] | StreamingResponse:
    """Due within the policy's lead time and not re-certified, or suspended for want of a
    certification; phones in full for the notice gateway (mobile) and admin, masked for
    counties. A page may hold fewer than `limit` items: follow `next_cursor` until null."""
    listing = service.reminders(principal, protector, policies, agency_code, on or today(now))
    return await served(listing, request, session, limit, cursor, accept)


@router.get(
    "/v1/stats",
    response_model=Stats,
    responses=problems(403, 409, 422),
    summary="A region's certification progress",
)
async def get_stats(
    agency_code: Annotated[RegionPrefix, Query()],
    session: SessionDep,
    principal: PrincipalDep,
    policies: PoliciesDep,
    now: NowDep,
    on: OnQuery = None,
) -> Stats:
    """In scope, valid, due within the lead time, suspended, stopped, never certified, by
    channel, and progress to the first-certification deadline. 409 `sweep_required` when too
    many benefits lack the sweep's answer for `on` to decide them now."""
    return await stats.stats(session, principal, policies, agency_code, on or today(now))


@router.get(
    "/v1/risk-signals",
    response_model=RiskSignals,
    responses=problems(403, 422),
    summary="Unusual volumes, repeated failures, certifications after a recorded death",
)
async def get_risk_signals(
    agency_code: Annotated[RegionPrefix, Query()],
    session: SessionDep,
    principal: PrincipalDep,
    now: NowDep,
    since: Annotated[Day | None, Query(description="default: six days before today")] = None,
    device_min_recipients: Annotated[int, Query(ge=2)] = risk_signals.DEVICE_MIN_RECIPIENTS,
    operator_min_per_day: Annotated[int, Query(ge=1)] = risk_signals.OPERATOR_MIN_PER_DAY,
    service_point_min_per_day: Annotated[int, Query(ge=1)] = risk_signals.SERVICE_POINT_MIN_PER_DAY,
    failed_attempts_min: Annotated[int, Query(ge=2)] = risk_signals.FAILED_ATTEMPTS_MIN,
) -> RiskSignals:
    """Devices used by many recipients, operators and service points with many certifications
    per day of the window, recipients with repeated failed attempts, and certifications after
    a recorded death, each with the certifications behind it."""
    thresholds = RiskThresholds(
        device_min_recipients=device_min_recipients,
        operator_min_per_day=operator_min_per_day,
        service_point_min_per_day=service_point_min_per_day,
        failed_attempts_min=failed_attempts_min,
    )
    start = since or today(now) - timedelta(days=6)
    return await risk_signals.risk_signals(session, principal, agency_code, start, now, thresholds)
