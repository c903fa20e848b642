"""Verification cases (核实台账): listing, contact attempts, resolution."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from app.deps import NowDep, PoliciesDep, PrincipalDep, SessionDep
from app.routers.responses import problems
from app.schemas.common import CursorText, Page, RegionPrefix
from app.schemas.stops import CaseContactCreate, CaseContactRead, CaseRead, CaseResolutionCreate
from app.services.eligibility.answers import recipient_eligibility
from app.services.eligibility.policies import today
from app.services.suspension import cases as service

router = APIRouter(prefix="/v1/verification-cases", tags=["verification cases"])


@router.get(
    "",
    response_model=Page[CaseRead],
    responses=problems(403, 422),
    summary="Verification cases of a region",
)
async def list_cases(
    session: SessionDep,
    principal: PrincipalDep,
    agency_code: Annotated[RegionPrefix | None, Query()] = None,
    status_: Annotated[Literal["open", "resolved"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[CursorText | None, Query()] = None,
) -> Page[CaseRead]:
    """Oldest first, with every contact attempt."""
    return await service.list_cases(session, principal, agency_code, status_, limit, cursor)


@router.get(
    "/{case_id}",
    response_model=CaseRead,
    responses=problems(403, 404, 422),
    summary="One verification case with its history",
)
async def get_case(case_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> CaseRead:
    """The case, its contacts and its resolution."""
    return service.to_case_read(await service.get_case(session, principal, case_id))


@router.post(
    "/{case_id}/contacts",
    response_model=CaseContactRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
    summary="Record a contact attempt",
)
async def post_contact(
    case_id: uuid.UUID,
    body: CaseContactCreate,
    session: SessionDep,
    principal: PrincipalDep,
    now: NowDep,
) -> CaseContactRead:
    """A call, message, visit or letter to the person, family or managing unit."""
    return await service.add_contact(session, principal, case_id, body, now)


@router.post(
    "/{case_id}/resolution",
    response_model=CaseRead,
    responses=problems(403, 404, 409, 422),
    summary="Resolve a case",
)
async def post_resolution(
    case_id: uuid.UUID,
    body: CaseResolutionCreate,
    session: SessionDep,
    principal: PrincipalDep,
    policies: PoliciesDep,
    now: NowDep,
) -> CaseRead:
    """`confirmed_eligible` resumes (with back pay); `confirmed_ineligible` stops after
    `effective_on`'s month and lists the overpaid months. Once only: a second resolution, racing
    or late, is 409 `already_resolved` with the `standing` one."""
    case = await service.resolve_case(session, principal, case_id, body, now)
    answer = await recipient_eligibility(
        session, principal, policies, case.recipient_id, today(now)
    )
    read = service.to_case_read(case)
    read.effects = answer.benefits
    return read
