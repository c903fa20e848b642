"""Verification cases (核实台账): opened by suspicion, overdue suspension or fraud signals;
worked by contacts; ended by a resolution that the engine turns into resume or stop."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import locks
from app.db.base import new_id
from app.db.models import CaseContact, Recipient, VerificationCase
from app.db.suspension import cases as stored
from app.domain.enums import Role
from app.domain.event_dates import ImplausibleDate, check_finding_date
from app.errors import Conflict, NotFound, Unprocessable
from app.schemas.common import Page
from app.schemas.stops import (
    CaseContactCreate,
    CaseContactRead,
    CaseRead,
    CaseResolutionCreate,
)
from app.services.accounts import audit
from app.services.eligibility.policies import today
from app.services.recipients.registration import get_recipient
from app.services.suspension import decisions


async def open_case(
    session: AsyncSession,
    recipient: Recipient,
    benefit_id: uuid.UUID | None,
    reason: str,
    dedupe_key: str,
    opened_at: datetime,
    opened_on: date,
    *,
    stop_report_id: uuid.UUID | None = None,
    certification_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, bool]:
    """Open a case once per cause: a second call with the same dedupe_key returns the first.
    Returns the case id and whether this call opened it."""
    agency = next(
        (b.agency_code for b in recipient.benefits if benefit_id in (None, b.id)),
        recipient.benefits[0].agency_code,
    )
    return await stored.open_once(
        session,
        VerificationCase(
            id=new_id(),
            recipient_id=recipient.id,
            benefit_id=benefit_id,
            agency_code=agency,
            reason=reason,
            status="open",
            stop_report_id=stop_report_id,
            certification_id=certification_id,
            dedupe_key=dedupe_key,
            opened_on=opened_on,
            opened_at=opened_at,
            documents=[],
        ),
    )


async def list_cases(
    session: AsyncSession,
    principal: Principal,
    agency_code: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[CaseRead]:
    prefixes = _visible_prefixes(principal, agency_code)
    page, next_cursor = await stored.page(session, prefixes, status, limit, cursor)
    return Page(items=[to_case_read(row) for row in page], next_cursor=next_cursor)


async def get_case(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID
) -> VerificationCase:
    case = await stored.with_contacts(session, case_id)
    if case is None:
        raise NotFound("no such verification case")
    principal.require_region([case.agency_code])
    return case


async def _check_effective_on(
    session: AsyncSession,
    principal: Principal,
    case: VerificationCase,
    effective_on: date,
    now: datetime,
) -> None:
    recipient = await get_recipient(session, principal, case.recipient_id)
    concerned = [b for b in recipient.benefits if case.benefit_id in (None, b.id)]
    try:
        check_finding_date(
            effective_on,
            born_on=recipient.birth_date,
            benefits_began=(benefit.start_date for benefit in concerned),
            today=today(now),
        )
    except ImplausibleDate as refused:
        raise Unprocessable(str(refused), code=refused.code) from None


async def add_contact(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    contact: CaseContactCreate,
    now: datetime,
) -> CaseContactRead:
    case = await get_case(session, principal, case_id)
    if case.status != "open":
        raise Conflict("the case is resolved", code="case_resolved")
    row = CaseContact(
        case_id=case.id,
        method=contact.method,
        outcome=contact.outcome,
        note=contact.note,
        client_id=principal.client_id,
        recorded_at=now,
    )
    session.add(row)
    await session.flush()
    return to_contact_read(row)


async def resolve_case(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    resolution: CaseResolutionCreate,
    now: datetime,
) -> VerificationCase:
    case = await get_case(session, principal, case_id)
    if resolution.effective_on is not None:
        await _check_effective_on(session, principal, case, resolution.effective_on, now)
    # Of racing resolutions exactly one settles the case; the others learn which (issue 15).
    await locks.lock_recipient(session, case.recipient_id)
    settled = await locks.settle_open_case(
        session,
        case.id,
        {
            "outcome": resolution.outcome,
            "effective_on": resolution.effective_on,
            "documents": list(resolution.documents),
            "resolved_at": now,
            "resolved_by": principal.client_id,
        },
    )
    case = await get_case(session, principal, case_id)
    if not settled:
        raise decisions.case_settled(case)
    await audit.record(
        session,
        principal.client_id,
        f"case.{resolution.outcome.value}",
        "verification_case",
        case.id,
        now,
        recipient_id=case.recipient_id,
        detail={"effective_on": str(resolution.effective_on) if resolution.effective_on else None},
    )
    return case


def _visible_prefixes(principal: Principal, agency_code: str | None) -> Sequence[str] | None:
    """The prefixes to list: the one asked for (which must lie in the client's regions), or
    the client's regions; None (everything) for admin without a filter."""
    if agency_code is not None:
        principal.require_prefix(agency_code)
        return [agency_code]
    return None if principal.role is Role.ADMIN else principal.regions


def to_contact_read(row: CaseContact) -> CaseContactRead:
    return CaseContactRead(
        contact_id=row.id,
        method=row.method,
        outcome=row.outcome,
        note=row.note,
        recorded_at=row.recorded_at,
        recorded_by=row.client_id,
    )


def to_case_read(case: VerificationCase) -> CaseRead:
    return CaseRead(
        case_id=case.id,
        recipient_id=case.recipient_id,
        benefit_id=case.benefit_id,
        agency_code=case.agency_code,
        reason=case.reason,
        status="resolved" if case.status == "resolved" else "open",
        opened_on=case.opened_on,
        stop_report_id=case.stop_report_id,
        certification_id=case.certification_id,
        outcome=case.outcome,
        effective_on=case.effective_on,
        documents=list(case.documents),
        resolved_at=case.resolved_at,
        contacts=[to_contact_read(contact) for contact in case.contacts],
    )
