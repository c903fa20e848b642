"""Certifications once stored: reading, listing and revocation. Ingest, single and batch, is
in app/services/certifications/ingest.py."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.certifications import records
from app.db.facts import FactBook, load_facts
from app.db.models import Certification, Recipient
from app.domain.enums import Role
from app.errors import Conflict, NotFound
from app.schemas.certifications import BenefitValidity, CertificationRead
from app.schemas.common import Page
from app.services.accounts import audit
from app.services.certifications.request import Ingest
from app.services.certifications.store import Stored, to_read
from app.services.eligibility.answers import evaluate_recipient
from app.services.eligibility.policies import today
from app.services.recipients.registration import get_recipient


async def get_certification(
    session: AsyncSession, ingest: Ingest, certification_id: uuid.UUID
) -> CertificationRead:
    certification = await _load_readable(session, ingest.principal, certification_id)
    recipient = await get_recipient(session, ingest.principal, certification.recipient_id)
    return await _read(session, ingest, certification, recipient)


async def list_certifications(
    session: AsyncSession,
    ingest: Ingest,
    recipient_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> Page[CertificationRead]:
    """Newest first, keyset-paginated on (occurred_at, id)."""
    recipient = await get_recipient(session, ingest.principal, recipient_id)
    page, next_cursor = await records.recipient_page(session, recipient.id, limit, cursor)
    benefits = _validity(recipient, await load_facts(session, [recipient.id]), ingest)
    return Page(items=[_to_read(row, benefits) for row in page], next_cursor=next_cursor)


async def revoke_certification(
    session: AsyncSession, ingest: Ingest, certification_id: uuid.UUID, reason: str
) -> CertificationRead:
    """Withdraw the validity a certification gave; the record stays, marked revoked.
    Revocation stays within the client's own regions."""
    principal = ingest.principal
    certification = await _load_readable(session, principal, certification_id)
    recipient = await get_recipient(session, principal, certification.recipient_id)
    principal.require_any_region(benefit.agency_code for benefit in recipient.benefits)
    revoked = await records.revoke(
        session, certification.id, ingest.now, principal.client_id, reason
    )
    if not revoked:
        raise Conflict("the certification is already revoked", code="already_revoked")
    await audit.record(
        session,
        principal.client_id,
        "certification.revoked",
        "certification",
        certification.id,
        ingest.now,
        recipient_id=certification.recipient_id,
        detail={"reason": reason},
    )
    await session.refresh(certification)
    return await _read(session, ingest, certification, recipient)


# --- reading --------------------------------------------------------------------------------


async def _load_readable(
    session: AsyncSession, principal: Principal, certification_id: uuid.UUID
) -> Certification:
    certification = await records.certification(session, certification_id)
    if certification is None:
        raise NotFound("no such certification")
    if principal.role is Role.MOBILE and certification.client_id != principal.client_id:
        # A mobile backend reads back what it posted, nothing else.
        raise NotFound("no such certification")
    return certification


async def _read(
    session: AsyncSession, ingest: Ingest, certification: Certification, recipient: Recipient
) -> CertificationRead:
    book = await load_facts(session, [recipient.id])
    return _to_read(certification, _validity(recipient, book, ingest))


def _validity(recipient: Recipient, book: FactBook, ingest: Ingest) -> list[BenefitValidity]:
    answers = evaluate_recipient(recipient, book, ingest.policies, today(ingest.now))
    return [
        BenefitValidity(
            benefit_id=benefit.id,
            status=answer.status,
            payable=answer.payable,
            valid_through=answer.valid_through,
            next_due=answer.next_due,
        )
        for benefit, _, answer in answers
    ]


def _to_read(certification: Certification, benefits: list[BenefitValidity]) -> CertificationRead:
    return to_read(Stored.of(certification), benefits)
