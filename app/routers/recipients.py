"""Recipients and their benefits (API.md, "Recipients")."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from app.deps import NowDep, PoliciesDep, PrincipalDep, ProtectorDep, SessionDep, reads_only
from app.routers.responses import problems
from app.schemas.recipients import RecipientCreate, RecipientLookup, RecipientRead, RecipientUpdate
from app.services.recipients import registration as service

router = APIRouter(prefix="/v1/recipients", tags=["recipients"])


@router.post(
    "",
    response_model=RecipientRead,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": RecipientRead, "description": "Updated"}, **problems(403, 422)},
    summary="Register or update a recipient",
)
async def register_recipient(
    body: RecipientCreate,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    policies: PoliciesDep,
    now: NowDep,
) -> RecipientRead:
    """Create the recipient (201), or update the one with this ID number (200). A benefit whose
    agency no policy covers is refused with 422 `no_policy_for_agency`."""
    recipient, created = await service.register_recipient(
        session, protector, principal, policies, body, now
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return service.to_read(recipient, protector, principal)


@router.post(
    "/lookup",
    response_model=RecipientRead,
    responses=problems(403, 404, 422),
    summary="Find a recipient by ID number",
)
@reads_only
async def lookup_recipient(
    body: RecipientLookup, session: SessionDep, principal: PrincipalDep, protector: ProtectorDep
) -> RecipientRead:
    """Look a recipient up by ID number, sent in the body so it never appears in a URL."""
    recipient = await service.lookup_recipient(session, protector, principal, body.id_number)
    return service.to_read(recipient, protector, principal)


@router.get(
    "/{recipient_id}",
    response_model=RecipientRead,
    responses=problems(403, 404, 422),
    summary="Read a recipient",
)
async def get_recipient(
    recipient_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, protector: ProtectorDep
) -> RecipientRead:
    """A recipient with every benefit."""
    recipient = await service.get_recipient(session, principal, recipient_id)
    return service.to_read(recipient, protector, principal)


@router.patch(
    "/{recipient_id}",
    response_model=RecipientRead,
    responses=problems(403, 404, 422),
    summary="Change a recipient's phone, residence or emergency contacts",
)
async def update_recipient(
    recipient_id: uuid.UUID,
    body: RecipientUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    now: NowDep,
) -> RecipientRead:
    """Change contact facts. A change of the emergency contacts is kept with its time: it
    decides the cycle of the next certification, never of one already made, so as-of and
    known-at answers stay as they were given (docs/policy.md §3)."""
    recipient = await service.update_recipient(
        session, protector, principal, recipient_id, body, now
    )
    return service.to_read(recipient, protector, principal)
