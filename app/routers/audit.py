"""The audit log, for administrators."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import PrincipalDep, SessionDep
from app.routers.responses import problems
from app.schemas.audit import AuditEntryRead
from app.schemas.common import CursorText, Instant, Page
from app.services.accounts import audit as service

router = APIRouter(prefix="/v1/audit-log", tags=["audit"])


@router.get(
    "",
    response_model=Page[AuditEntryRead],
    responses=problems(403, 422),
    summary="Who changed what (admin)",
)
async def list_audit_entries(
    session: SessionDep,
    principal: PrincipalDep,
    since: Annotated[Instant | None, Query()] = None,
    recipient_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[CursorText | None, Query()] = None,
) -> Page[AuditEntryRead]:
    """Certifications, revocations, stop reports, case resolutions, resumption steps,
    moratoria, payment runs and client changes, oldest first."""
    start: datetime | None = since
    return await service.list_entries(session, principal, start, recipient_id, limit, cursor)
