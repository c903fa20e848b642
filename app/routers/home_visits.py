"""Home-visit requests and the outreach list (API.md, "Reminders, notices, reporting")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse

from app.deps import NowDep, PoliciesDep, PrincipalDep, ProtectorDep, SessionDep
from app.routers.reporting import Accept, Cursor, Limit, OnQuery, listing_responses, served
from app.routers.responses import problems
from app.schemas.common import Page, RegionPrefix
from app.schemas.home_visits import (
    AssignmentCreate,
    HomeVisitRequestCreate,
    HomeVisitRequestRead,
    OutcomeCreate,
    RequestStatus,
)
from app.schemas.reporting import OutreachItem
from app.services.certifications import home_visits as service
from app.services.eligibility.policies import today

router = APIRouter(tags=["home visits"])


@router.post(
    "/v1/home-visit-requests",
    response_model=HomeVisitRequestRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
    summary="Apply for a home visit (上门认证)",
)
async def post_request(
    body: HomeVisitRequestCreate,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    now: NowDep,
) -> HomeVisitRequestRead:
    """On behalf of the recipient, family, employer or community; 409
    `home_visit_request_open` while another request of the recipient is active."""
    return await service.create_request(session, protector, principal, body, now)


@router.get(
    "/v1/home-visit-requests",
    response_model=Page[HomeVisitRequestRead],
    responses=problems(403, 422),
    summary="Home-visit requests of a region",
)
async def list_requests(
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    agency_code: Annotated[RegionPrefix | None, Query()] = None,
    status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[HomeVisitRequestRead]:
    """Oldest first; requests a home_visit certification names show as completed."""
    return await service.list_requests(
        session, protector, principal, agency_code, status_, limit, cursor
    )


@router.get(
    "/v1/home-visit-requests/{request_id}",
    response_model=HomeVisitRequestRead,
    responses=problems(403, 404, 422),
    summary="One home-visit request",
)
async def get_request(
    request_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, protector: ProtectorDep
) -> HomeVisitRequestRead:
    """The request, its visitor and how it ended."""
    row = await service.get_request(session, principal, request_id)
    return (await service.to_reads(session, protector, [row]))[0]


@router.post(
    "/v1/home-visit-requests/{request_id}/assignment",
    response_model=HomeVisitRequestRead,
    responses=problems(403, 404, 409, 422),
    summary="Assign the visitor",
)
async def post_assignment(
    request_id: uuid.UUID,
    body: AssignmentCreate,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    now: NowDep,
) -> HomeVisitRequestRead:
    """Open or assigned requests only (reassigning is allowed); 409
    `home_visit_request_closed` once completed or failed."""
    row = await service.assign(session, principal, request_id, body, now)
    return (await service.to_reads(session, protector, [row]))[0]


@router.post(
    "/v1/home-visit-requests/{request_id}/outcome",
    response_model=HomeVisitRequestRead,
    responses=problems(403, 404, 409, 422),
    summary="Record a visit that could not certify",
)
async def post_outcome(
    request_id: uuid.UUID,
    body: OutcomeCreate,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    now: NowDep,
) -> HomeVisitRequestRead:
    """Not found, refused or deceased: the request fails; `deceased` opens a verification case
    (`case_id`). 409 `home_visit_not_assigned` before assignment, `already_resolved` (with the
    `standing` status and outcome) once completed or failed."""
    row = await service.record_outcome(session, principal, request_id, body, now)
    return (await service.to_reads(session, protector, [row]))[0]


@router.get(
    "/v1/outreach",
    response_model=Page[OutreachItem],
    responses=listing_responses(Page[OutreachItem]),
    summary="Reminder candidates a phone reminder is unlikely to reach",
)
async def get_outreach(
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
) -> Page[OutreachItem] | StreamingResponse:
    """Items as in reminders, for recipients aged 80 or over, with a disability benefit, with
    a failed self-service attempt in the last year, or without a phone; `why` says which."""
    listing = service.outreach(principal, protector, policies, agency_code, on or today(now))
    return await served(listing, request, session, limit, cursor, accept)
