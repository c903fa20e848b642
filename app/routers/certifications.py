"""Certifications: ingest from every channel, reading, listing, revocation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from app.db.read_pool import ReadPool
from app.deps import NowDep, PoliciesDep, PrincipalDep, ProtectorDep, SessionDep, SettingsDep
from app.routers.responses import problems
from app.schemas.certifications import (
    BatchResult,
    CertificationBatch,
    CertificationCreate,
    CertificationRead,
    CertificationRevoke,
)
from app.schemas.common import CursorText, Line, Page
from app.services.certifications import ingest as ingestion
from app.services.certifications import reading as service

router = APIRouter(tags=["certifications"])


async def get_ingest(
    request: Request,
    principal: PrincipalDep,
    protector: ProtectorDep,
    policies: PoliciesDep,
    settings: SettingsDep,
    now: NowDep,
) -> ingestion.Ingest:
    pool: ReadPool | None = request.state.read_pool
    return ingestion.Ingest(principal, protector, policies, now, settings.max_backdate_days, pool)


IngestDep = Annotated[ingestion.Ingest, Depends(get_ingest)]


@router.post(
    "/v1/certifications",
    response_model=CertificationRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": CertificationRead, "description": "A replay: the original record"},
        **problems(403, 404, 409, 422),
    },
    summary="Record a certification",
)
async def post_certification(
    body: CertificationCreate,
    session: SessionDep,
    ingest: IngestDep,
    idempotency_key: Annotated[Line | None, Header(max_length=128)] = None,
) -> Response:
    """Store a certification with its channel's evidence, exactly once per `source_ref` (or
    `Idempotency-Key`), and answer with every benefit's new validity."""
    content, created = await ingestion.record_certification(session, ingest, body, idempotency_key)
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Response(content, status_code=code, media_type="application/json")


@router.post(
    "/v1/certifications/batch",
    response_model=BatchResult,
    responses=problems(403, 413, 422),
    summary="Record up to 1000 certifications, each on its own",
)
async def post_certification_batch(
    body: CertificationBatch, session: SessionDep, ingest: IngestDep
) -> Response:
    """Each item succeeds (201, or 200 for a replay) or fails with its own problem."""
    content = await ingestion.record_batch(session, ingest, body.items)
    return Response(content, media_type="application/json")


@router.get(
    "/v1/certifications/{certification_id}",
    response_model=CertificationRead,
    responses=problems(403, 404, 422),
    summary="Read a certification",
)
async def get_certification(
    certification_id: uuid.UUID, session: SessionDep, ingest: IngestDep
) -> CertificationRead:
    """A certification with its evidence and the recipient's current validity."""
    return await service.get_certification(session, ingest, certification_id)


@router.get(
    "/v1/recipients/{recipient_id}/certifications",
    response_model=Page[CertificationRead],
    responses=problems(403, 404, 422),
    summary="A recipient's certifications, newest first",
)
async def list_certifications(
    recipient_id: uuid.UUID,
    session: SessionDep,
    ingest: IngestDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[CursorText | None, Query()] = None,
) -> Page[CertificationRead]:
    """Every attempt, failed and revoked ones included, newest first."""
    return await service.list_certifications(session, ingest, recipient_id, limit, cursor)


@router.post(
    "/v1/certifications/{certification_id}/revoke",
    response_model=CertificationRead,
    responses=problems(403, 404, 409, 422),
    summary="Revoke a certification",
)
async def revoke_certification(
    certification_id: uuid.UUID, body: CertificationRevoke, session: SessionDep, ingest: IngestDep
) -> CertificationRead:
    """Withdraw the validity a certification gave; the record stays, marked revoked."""
    return await service.revoke_certification(session, ingest, certification_id, body.reason)
