"""Home-visit requests (上门认证申请) and the outreach list a county sends grid workers out with.

A request is open, then assigned to a visitor; it ends completed, when a passed home_visit
certification of the same recipient names it (details.request_id), or failed, when the visit
could not certify (POST …/outcome). Certification ingest (single or batch) completes the
request in the certifying transaction through `complete_from_certifications`; legacy imports
predate any request made in this service, so they name none. Who is on the outreach list is
decided in app/domain/outreach.py; the queries are in app/db/certifications/home_visits.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import locks, native
from app.db.base import new_id
from app.db.certifications import home_visits as visits
from app.db.certifications import records
from app.db.models import HomeVisitRequest
from app.domain.enums import CertificationResult, Channel, Role
from app.domain.outreach import FAILED_LOOKBACK_DAYS, outreach_reasons
from app.domain.policy import PolicyBook
from app.errors import Conflict, Forbidden, NotFound
from app.protection import IdProtector
from app.schemas.common import Page
from app.schemas.home_visits import (
    AssignmentCreate,
    HomeVisitRequestCreate,
    HomeVisitRequestRead,
    OutcomeCreate,
)
from app.schemas.reporting import OutreachItem, OutreachWhy
from app.services.accounts import audit
from app.services.eligibility.policies import SERVICE_TIMEZONE, today
from app.services.recipients.personal_data import CONTACT_PHONE, seal, unseal
from app.services.recipients.registration import get_recipient
from app.services.reporting import scans as reporting
from app.services.suspension import decisions
from app.services.suspension.cases import open_case

ACTIVE = ("open", "assigned")


async def create_request(
    session: AsyncSession,
    protector: IdProtector,
    principal: Principal,
    body: HomeVisitRequestCreate,
    now: datetime,
) -> HomeVisitRequestRead:
    """County clients for recipients with a benefit in their regions; one active request per
    recipient at a time (409 ``home_visit_request_open``)."""
    recipient = await get_recipient(session, principal, body.recipient_id)
    agencies = [b.agency_code for b in recipient.benefits if principal.may_touch(b.agency_code)]
    if not agencies:
        raise Forbidden("the recipient is outside this client's regions", code="forbidden_region")
    # The check and the insert under the person's lock: two racing applications, one request.
    await locks.lock_recipient(session, recipient.id)
    active = await visits.requests_in(session, recipient.id, ACTIVE)
    if active:
        raise Conflict(
            "the recipient already has an open home-visit request", code="home_visit_request_open"
        )
    request_id = new_id()
    row = HomeVisitRequest(
        id=request_id,
        recipient_id=recipient.id,
        agency_code=agencies[0],
        requested_by=body.requested_by,
        reason=body.reason,
        contact_phone_ciphertext=seal(protector, CONTACT_PHONE, request_id, body.contact_phone),
        status="open",
        note=body.note,
        client_id=principal.client_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    detail = {"requested_by": body.requested_by, "reason": body.reason}
    await _audit(session, principal.client_id, "created", row, now, detail)
    return (await to_reads(session, protector, [row]))[0]


async def list_requests(
    session: AsyncSession,
    protector: IdProtector,
    principal: Principal,
    agency_code: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[HomeVisitRequestRead]:
    """Oldest first, keyset-paginated on (created_at, id)."""
    if agency_code is not None:
        principal.require_prefix(agency_code)
    # Admin without a filter sees everything; a county its regions (nothing without any).
    prefixes = [agency_code] if agency_code else list(principal.regions)
    scope = None if principal.role is Role.ADMIN and not agency_code else prefixes
    page, next_cursor = await visits.requests_page(session, scope, status, limit, cursor)
    return Page(items=await to_reads(session, protector, page), next_cursor=next_cursor)


async def get_request(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID
) -> HomeVisitRequest:
    row = await visits.request(session, request_id)
    if row is None:
        raise NotFound("no such home-visit request")
    principal.require_region([row.agency_code])
    return row


async def assign(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    body: AssignmentCreate,
    now: datetime,
) -> HomeVisitRequest:
    """Assign (or reassign) the visitor of an active request."""
    row = await get_request(session, principal, request_id)
    values = {"visitor_type": body.visitor_type, "visitor_id": body.visitor_id}
    await _transition(session, row, ACTIVE, "assigned", now, values)
    await _audit(session, principal.client_id, "assigned", row, now, values)
    return row


async def record_outcome(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    body: OutcomeCreate,
    now: datetime,
) -> HomeVisitRequest:
    """A visit that could not certify ends the request failed; ``deceased`` also opens a
    verification case, which the county confirms (a death report, or resolving the case)."""
    row = await get_request(session, principal, request_id)
    # Serialised with every other decision on the person, then re-read: of racing outcomes
    # (or an outcome racing the visit's certification) one stands (issue 15).
    await locks.lock_recipient(session, row.recipient_id)
    row = await get_request(session, principal, request_id)
    if row.status == "open":
        raise Conflict("assign a visitor before recording a visit", code="home_visit_not_assigned")
    if row.status not in ACTIVE:
        raise decisions.visit_settled(row)
    note = "\n".join(text for text in (row.note, body.note) if text)[-1000:] or None
    values = {"outcome": body.outcome, "note": note}
    try:
        await _transition(session, row, ("assigned",), "failed", now, values)
    except Conflict:
        # A certification that takes no person lock completed it meanwhile.
        raise decisions.visit_settled(row) from None
    case_id = None
    if body.outcome == "deceased":
        recipient = await get_recipient(session, principal, row.recipient_id)
        case_id = await open_case(
            session,
            recipient,
            None,
            "home_visit_deceased",
            f"home_visit_deceased:{row.id}",
            now,
            today(now),
        )
    detail = {"outcome": body.outcome, "case_id": None if case_id is None else str(case_id)}
    await _audit(session, principal.client_id, "failed", row, now, detail)
    return row


async def _transition(
    session: AsyncSession,
    row: HomeVisitRequest,
    allowed: Sequence[str],
    status: str,
    now: datetime,
    values: Mapping[str, str | None],
) -> None:
    if not await visits.transition(session, row.id, allowed, status, now, values):
        await session.refresh(row)
        raise Conflict(f"the request is {row.status}", code="home_visit_request_closed")
    await session.refresh(row)


async def _audit(
    session: AsyncSession,
    client_id: uuid.UUID | None,
    action: str,
    row: HomeVisitRequest,
    at: datetime,
    detail: Mapping[str, object],
) -> None:
    """Identifiers and codes only: never the note or the contact phone."""
    await audit.record(
        session,
        client_id,
        f"home_visit_request.{action}",
        "home_visit_request",
        row.id,
        at,
        recipient_id=row.recipient_id,
        detail=dict(detail),
    )


@dataclass(frozen=True, slots=True)
class StoredVisit:
    """What `complete_from_certifications` needs of a certification just stored."""

    certification_id: uuid.UUID
    recipient_id: uuid.UUID
    channel: Channel
    result: CertificationResult
    request_ref: str | None  # details.request_id, as sent
    recorded_at: datetime


async def complete_from_certification(session: AsyncSession, certification_id: uuid.UUID) -> None:
    """`complete_from_certifications` for one stored certification, read back by its id."""
    row = await records.certification(session, certification_id)
    if row is not None and row.revoked_at is None:
        visit = StoredVisit(
            row.id,
            row.recipient_id,
            row.channel,
            row.result,
            row.home_visit_request_id,
            row.recorded_at,
        )
        await complete_from_certifications(session, [visit])


async def complete_from_certifications(
    session: AsyncSession, certifications: Sequence[StoredVisit]
) -> None:
    """For certification ingest, right after storing certifications: complete at once the
    requests that passed home visits name (reads would otherwise do it on their next look).
    Of several naming one request, the first completes it."""
    entries = []
    seen: set[uuid.UUID] = set()
    for certification in certifications:
        if (certification.channel, certification.result) != (
            Channel.HOME_VISIT,
            CertificationResult.PASSED,
        ):
            continue
        request_id = _request_id(certification.request_ref)
        if request_id is None or request_id in seen:
            continue
        seen.add(request_id)
        completed = await visits.complete(
            session,
            request_id,
            certification.recipient_id,
            ACTIVE,
            certification.certification_id,
            certification.recorded_at,
        )
        if completed is not None:
            entries.append(
                audit.Entry(
                    certification.recorded_at,
                    None,
                    "home_visit_request.completed",
                    "home_visit_request",
                    completed,
                    certification.recipient_id,
                    {"certification_id": str(certification.certification_id)},
                )
            )
    await audit.record_many(native.Db.of(session), entries)


def _request_id(named: str | None) -> uuid.UUID | None:
    """The request a certification names; the field is free text, so case and hyphens vary."""
    try:
        return None if named is None else uuid.UUID(named.strip())
    except ValueError:
        return None


async def to_reads(
    session: AsyncSession, protector: IdProtector, rows: Sequence[HomeVisitRequest]
) -> list[HomeVisitRequestRead]:
    """The answers, contact phones opened here (county and admin, who read requests)."""
    keys = [f"home_visit_deceased:{row.id}" for row in rows if row.outcome == "deceased"]
    cases = await visits.case_ids(session, keys)
    # Validated, not constructed: the columns are plain strings the schema narrows.
    return [
        HomeVisitRequestRead.model_validate(
            {
                "request_id": row.id,
                "recipient_id": row.recipient_id,
                "agency_code": row.agency_code,
                "requested_by": row.requested_by,
                "reason": row.reason,
                "contact_phone": unseal(
                    protector, CONTACT_PHONE, row.id, row.contact_phone_ciphertext
                ),
                "status": row.status,
                "visitor_type": row.visitor_type,
                "visitor_id": row.visitor_id,
                "outcome": row.outcome,
                "note": row.note,
                "certification_id": row.certification_id,
                "case_id": cases.get(f"home_visit_deceased:{row.id}"),
                "created_at": row.created_at,
                "updated_at": row.updated_at,
            }
        )
        for row in rows
    ]


# --- outreach -------------------------------------------------------------------------------


def outreach(
    principal: Principal, protector: IdProtector, policies: PolicyBook, prefix: str, on: date
) -> reporting.Listing[OutreachItem]:
    """Reminder candidates whom a phone reminder is unlikely to reach (county, admin)."""
    scan = reporting.prepare(principal, policies, prefix, on)
    reveal = reporting.reveals_phone(principal)

    async def pick(
        session: AsyncSession, judged: list[reporting.Judged]
    ) -> list[tuple[reporting.Judged, OutreachItem]]:
        due = [entry for entry in judged if entry.wants_reminder]
        failed = await visits.failed_self_service(
            session,
            {entry.recipient.id for entry in due},
            on,
            FAILED_LOOKBACK_DAYS,
            SERVICE_TIMEZONE,
        )
        picked = []
        for entry in due:
            why = _why(entry, on, failed)
            if why:
                item = reporting.reminder_item(entry, on, reveal, protector)
                picked.append((entry, OutreachItem(**item.model_dump(), why=why)))
        return picked

    return reporting.Listing(scan, pick)


def _why(entry: reporting.Judged, on: date, failed: set[uuid.UUID]) -> list[OutreachWhy]:
    recipient = entry.recipient
    return outreach_reasons(
        recipient.birth_date,
        on,
        (benefit.benefit_type for benefit in recipient.benefits),
        failed_self_service=recipient.id in failed,
        # No need to open the phone to know there is none.
        has_phone=recipient.phone_ciphertext is not None,
    )
