"""Eligibility answers for one recipient, and the approval of a new benefit."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.deps import (
    BEARER_SECURITY,
    NowDep,
    PoliciesDep,
    PrincipalDep,
    ReadingCallDep,
    SessionDep,
)
from app.routers.responses import problems
from app.schemas.common import Day, Instant
from app.schemas.eligibility import BenefitEligibility, RecipientEligibility
from app.services.eligibility import answers as service
from app.services.eligibility.policies import today

router = APIRouter(prefix="/v1/recipients", tags=["eligibility"])


@router.get(
    "/{recipient_id}/eligibility",
    response_model=RecipientEligibility,
    responses=problems(403, 404, 422),
    summary="Is each benefit payable on a date",
    openapi_extra=BEARER_SECURITY,
)
async def get_eligibility(
    recipient_id: uuid.UUID,
    request: Request,
    call: ReadingCallDep,
    now: NowDep,
    on: Annotated[Day | None, Query(description="the day asked about; default today")] = None,
    known_at: Annotated[
        Instant | None,
        Query(description="answer only from what had been recorded by this instant"),
    ] = None,
) -> Response:
    """Status, validity, next due date and payability of every benefit of the recipient."""
    # The hot read (issue 6): the pool and policies come straight from the lifespan's state,
    # as each dependency costs tens of microseconds to resolve; on PostgreSQL the read pool
    # answers and no session is made (no request-session dependency either). Sessions from
    # elsewhere than the lifespan (tests bind theirs to a connection inside a transaction,
    # which the pool cannot see) read through a session instead. The answer is already JSON,
    # so FastAPI does not validate and serialize it again (response_model stays, for OpenAPI).
    # With a read replica (CERTSVC_READ_DATABASE_URL) it answers when it may.
    state = request.state
    sessions = call.sessions
    own = sessions is state.sessionmaker
    body = await service.recipient_eligibility_json(
        sessions,
        state.read_pool if own else None,
        call.principal,
        state.policies,
        recipient_id,
        on or today(now),
        known_at,
        replica=state.replica if own else None,
    )
    return Response(body, media_type="application/json")


@router.post(
    "/{recipient_id}/benefits/{benefit_id}/approval",
    response_model=BenefitEligibility,
    responses=problems(403, 404, 409, 422),
    summary="Approve a new benefit after its first certification",
)
async def approve_benefit(
    recipient_id: uuid.UUID,
    benefit_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    policies: PoliciesDep,
    now: NowDep,
) -> BenefitEligibility:
    """200 once the recipient holds a valid certification, or at once for a benefit its policy
    gives no certification cycle; 409 `first_certification_required` before."""
    return await service.approve_benefit(
        session, principal, policies, recipient_id, benefit_id, today(now)
    )
