"""Stop reports, resumption steps, moratoria and after-the-fact checks."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import NowDep, PoliciesDep, PrincipalDep, ProtectorDep, SessionDep
from app.domain.enums import ResumptionMode
from app.routers.responses import problems
from app.schemas.common import Day, RegionPrefix
from app.schemas.stops import (
    CommitmentCreate,
    ContinuationCreate,
    EmployerVerificationCreate,
    MoratoriumCreate,
    MoratoriumRead,
    PostCheckItem,
    ResumptionStepRead,
    StopReportCreate,
    StopReportRead,
)
from app.services.eligibility.policies import today
from app.services.suspension import stops as service

router = APIRouter(tags=["stop events"])


@router.post(
    "/v1/stop-reports",
    response_model=StopReportRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": StopReportRead, "description": "A replay: the original report"},
        **problems(403, 404, 409, 422),
    },
    summary="Report a stop condition",
)
async def post_stop_report(
    body: StopReportCreate,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    policies: PoliciesDep,
    now: NowDep,
) -> StopReportRead:
    """Record a death, imprisonment, release or benefit-specific stop, with its 20-working-day
    deadline and whether the report is late; a suspicion suspends and opens a case. A confirmed
    report that a standing one already decides is 409 `already_resolved` (`standing`)."""
    read, created = await service.report_stop(session, principal, protector, policies, body, now)
    if not created:
        response.status_code = status.HTTP_200_OK
    return read


@router.post(
    "/v1/recipients/{recipient_id}/commitments",
    response_model=ResumptionStepRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
    summary="Record a completed notification-and-commitment (告知承诺)",
)
async def post_commitment(
    recipient_id: uuid.UUID,
    body: CommitmentCreate,
    session: SessionDep,
    principal: PrincipalDep,
    policies: PoliciesDep,
    now: NowDep,
) -> ResumptionStepRead:
    """The step a resumption after more than two years without certification needs; 409
    `already_resolved` (with the `standing` step) when one is recorded and none is awaited."""
    return await service.record_step(
        session,
        principal,
        policies,
        recipient_id,
        ResumptionMode.COMMITMENT_REQUIRED,
        body.signed_on,
        now,
        reference=body.document_ref,
    )


@router.post(
    "/v1/recipients/{recipient_id}/employer-verifications",
    response_model=ResumptionStepRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
    summary="Record an employer's verification of entitlement",
)
async def post_employer_verification(
    recipient_id: uuid.UUID,
    body: EmployerVerificationCreate,
    session: SessionDep,
    principal: PrincipalDep,
    policies: PoliciesDep,
    now: NowDep,
) -> ResumptionStepRead:
    """The step institution pensions suspended over a year, or with an incarceration flag, need;
    409 `already_resolved` (with the `standing` step) when one is recorded and none is awaited."""
    return await service.record_step(
        session,
        principal,
        policies,
        recipient_id,
        ResumptionMode.EMPLOYER_VERIFICATION,
        body.verified_on,
        now,
        employer=body.employer,
        reference=body.document_ref,
    )


@router.post(
    "/v1/recipients/{recipient_id}/continuations",
    response_model=ResumptionStepRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
    summary="Record the agency's continuation decision (续发)",
)
async def post_continuation(
    recipient_id: uuid.UUID,
    body: ContinuationCreate,
    session: SessionDep,
    principal: PrincipalDep,
    policies: PoliciesDep,
    now: NowDep,
) -> ResumptionStepRead:
    """The step after five years suspended, or after a stop the agency verified; 409
    `already_resolved` (with the `standing` step) when one is recorded and none is awaited."""
    return await service.record_step(
        session,
        principal,
        policies,
        recipient_id,
        ResumptionMode.CONTINUATION_PROCEDURE,
        body.decided_on,
        now,
        reference=body.decision_ref,
    )


@router.post(
    "/v1/moratoria",
    response_model=MoratoriumRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 422),
    summary="Pause automatic suspension (admin)",
)
async def post_moratorium(
    body: MoratoriumCreate, session: SessionDep, principal: PrincipalDep, now: NowDep
) -> MoratoriumRead:
    """While it holds, overdue benefits of the region and types stay payable (`moratorium`)."""
    return await service.create_moratorium(session, principal, body, now)


@router.get(
    "/v1/moratoria",
    response_model=list[MoratoriumRead],
    responses=problems(403, 422),
    summary="Every moratorium, with who set it",
)
async def get_moratoria(
    session: SessionDep,
    principal: PrincipalDep,
    agency_code: Annotated[RegionPrefix | None, Query()] = None,
) -> list[MoratoriumRead]:
    """Moratoria touching the given region (all when omitted)."""
    return await service.list_moratoria(session, principal, agency_code)


@router.get(
    "/v1/post-checks",
    response_model=list[PostCheckItem],
    responses=problems(403, 422),
    summary="Recipients resumed after a suspension longer than 12 months",
)
async def get_post_checks(
    agency_code: Annotated[RegionPrefix, Query()],
    session: SessionDep,
    principal: PrincipalDep,
    policies: PoliciesDep,
    now: NowDep,
    since: Annotated[Day | None, Query(description="default: one year ago")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PostCheckItem]:
    """For sampling audits of long suspensions that ended (事后核查)."""
    start = since or today(now) - timedelta(days=365)
    return await service.post_checks(session, principal, policies, agency_code, start, limit)
