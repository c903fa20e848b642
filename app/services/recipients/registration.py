"""The recipients registry: registration keyed by ID number, look-up, reading and updates."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import BIRTH_DATE_ROLES
from app.auth import Principal
from app.db import recipients
from app.db.base import new_id
from app.db.locks import lock_recipient
from app.db.models import Recipient
from app.domain.acceptance import province_wide
from app.domain.id_numbers import birth_date_of, mask_id_number
from app.domain.policy import PolicyBook
from app.errors import NotFound
from app.protection import IdProtector
from app.schemas.recipients import (
    BenefitRead,
    RecipientCreate,
    RecipientRead,
    RecipientUpdate,
)
from app.services.eligibility.policies import policy_for, today
from app.services.recipients.id_lookup import find_recipient_id, rekey_registered
from app.services.recipients.personal_data import (
    RECIPIENT_NAME,
    RECIPIENT_PHONE,
    reseal_if_changed,
    seal,
    unseal,
)
from app.services.recipients.registry import record_registry


async def register_recipient(
    session: AsyncSession,
    protector: IdProtector,
    principal: Principal,
    policies: PolicyBook,
    data: RecipientCreate,
    now: datetime,
) -> tuple[Recipient, bool]:
    """Create the recipient, or update it when the ID number is known; upsert the listed
    benefits (others stay). Returns the recipient and whether it was created.

    Two racing registrations of one person meet at the unique HMAC digest: one inserts, the
    other's INSERT … ON CONFLICT DO NOTHING inserts nothing and it updates instead."""
    principal.require_region(benefit.agency_code for benefit in data.benefits)
    for benefit in data.benefits:
        policy_for(policies, benefit, today(now))

    digest = protector.digest(data.id_number)
    await rekey_registered(session, protector, data.id_number)
    person = {"residence": data.residence, "emergency_contacts": data.emergency_contacts}
    new_recipient_id = new_id()
    inserted = await recipients.insert_recipient(
        session,
        {
            "id": new_recipient_id,
            "id_digest": digest,
            "id_ciphertext": protector.encrypt(data.id_number),
            "id_masked": mask_id_number(data.id_number),
            "birth_date": birth_date_of(data.id_number),
            "name_ciphertext": seal(protector, RECIPIENT_NAME, new_recipient_id, data.name),
            "phone_ciphertext": seal(protector, RECIPIENT_PHONE, new_recipient_id, data.phone),
            "created_at": now,
            "updated_at": now,
            **person,
        },
    )
    created = inserted is not None
    recipient_id = inserted or await recipients.recipient_id_by_digest(session, [digest])
    assert recipient_id is not None
    # The person's lock first, then the benefits' rows: every writer of a person takes them in
    # this order, so two registrations of one person (or one and a PATCH) wait, never deadlock.
    await lock_recipient(session, recipient_id)
    if not created:
        recipient = await recipients.recipient(session, recipient_id)
        for field, value in person.items():
            setattr(recipient, field, value)
        # Sealed for the existing row; unchanged values keep their ciphertext (no write).
        recipient.name_ciphertext = reseal_if_changed(
            protector, RECIPIENT_NAME, recipient_id, recipient.name_ciphertext, data.name
        )
        recipient.phone_ciphertext = reseal_if_changed(
            protector, RECIPIENT_PHONE, recipient_id, recipient.phone_ciphertext, data.phone
        )
        await session.flush()

    for benefit in data.benefits:
        await recipients.upsert_benefit(session, recipient_id, benefit.model_dump(), now)
    recipient = await _load(session, recipient_id)
    await record_registry(session, recipient, now)
    return recipient, created


async def lookup_recipient(
    session: AsyncSession, protector: IdProtector, principal: Principal, id_number: str
) -> Recipient:
    recipient_id = await find_recipient_id(session, protector, id_number)
    if recipient_id is None:
        raise NotFound("no recipient has this ID number")
    return await get_recipient(session, principal, recipient_id)


async def get_recipient(
    session: AsyncSession, principal: Principal, recipient_id: uuid.UUID
) -> Recipient:
    """Reads: a county client reaches the whole province (全省通办), others their regions."""
    recipient = await _load(session, recipient_id)
    require_read_access(principal, (benefit.agency_code for benefit in recipient.benefits))
    return recipient


def require_read_access(principal: Principal, agency_codes: Iterable[str]) -> None:
    """May the principal read a recipient whose benefits are paid by these agencies?"""
    principal.require_any_region(agency_codes, province_wide=province_wide(principal.role))


async def update_recipient(
    session: AsyncSession,
    protector: IdProtector,
    principal: Principal,
    recipient_id: uuid.UUID,
    changes: RecipientUpdate,
    now: datetime,
) -> Recipient:
    """Registry changes stay within the client's own regions. A change of the emergency
    contacts is kept with its time (`record_registry`): it decides the cycle of the next
    certification, not of those already made (docs/policy.md §3)."""
    await lock_recipient(session, recipient_id)
    recipient = await _load(session, recipient_id)
    principal.require_any_region(benefit.agency_code for benefit in recipient.benefits)
    for field, value in changes.model_dump(exclude_unset=True).items():
        if field == "phone":
            recipient.phone_ciphertext = reseal_if_changed(
                protector, RECIPIENT_PHONE, recipient.id, recipient.phone_ciphertext, value
            )
        else:
            setattr(recipient, field, value)
    await session.flush()
    await record_registry(session, recipient, now)
    return recipient


async def _load(session: AsyncSession, recipient_id: uuid.UUID) -> Recipient:
    recipient = await recipients.recipient_with_benefits(session, recipient_id, fresh=True)
    if recipient is None:
        raise NotFound("no such recipient")
    return recipient


def to_read(recipient: Recipient, protector: IdProtector, reader: Principal) -> RecipientRead:
    """The recipient as ``reader`` may see it, name and phone opened here: the birth date only
    for the roles that need it (app/access.py BIRTH_DATE_ROLES), since with the masked ID and the
    agency it narrows the ID number down (docs/security.md, "Least privilege and masking")."""
    return RecipientRead(
        recipient_id=recipient.id,
        id_number_masked=recipient.id_masked,
        name=unseal(protector, RECIPIENT_NAME, recipient.id, recipient.name_ciphertext),
        phone=unseal(protector, RECIPIENT_PHONE, recipient.id, recipient.phone_ciphertext),
        residence=recipient.residence,
        emergency_contacts=recipient.emergency_contacts,
        birth_date=recipient.birth_date if reader.role in BIRTH_DATE_ROLES else None,
        benefits=[
            BenefitRead(
                benefit_id=b.id,
                benefit_type=b.benefit_type,
                agency_code=b.agency_code,
                start_date=b.start_date,
                approved=b.approved,
                external_ref=b.external_ref,
                funeral_subsidy_area=b.funeral_subsidy_area,
            )
            for b in recipient.benefits
        ],
        created_at=recipient.created_at,
        updated_at=recipient.updated_at,
    )
