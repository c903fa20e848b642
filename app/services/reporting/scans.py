"""Reminders and outreach scans for a region (docs/reporting.md).

Every status here comes from `evaluate_recipient`, over keyset chunks of the recipients with
a benefit in the region and `load_facts` per chunk, or from the sweep's snapshot of the same
answers (`benefit_states`): SQL counts stored answers but never re-derives a rule. Listings
page by cursor or stream as NDJSON, a fresh session per chunk, in constant memory.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import FULL_PHONE_LISTING_ROLES
from app.auth import Principal
from app.db import regions
from app.db.engine import SessionMaker
from app.db.facts import load_facts
from app.db.keyset import decode_ids, encode_ids
from app.db.models import Benefit, Recipient
from app.domain.eligibility import Eligibility
from app.domain.policy import Policy, PolicyBook
from app.domain.progress import Standing, standing_of, wants_reminder
from app.errors import Unprocessable
from app.protection import IdProtector
from app.schemas.common import Page
from app.schemas.reporting import (
    ReminderItem,
)
from app.services.eligibility.answers import evaluate_recipient
from app.services.recipients.personal_data import RECIPIENT_PHONE, unseal

# Recipients per engine chunk (and NDJSON write): a fraction of a second of engine work, and
# an IN list well within both databases' parameter limits.
RECIPIENTS_PER_CHUNK = 1000
# A page stops scanning after this many recipients even if short of `limit` (a region with
# few due benefits would otherwise make one page evaluate the whole region).
MAX_SCANNED_PER_PAGE = 20_000
_AFTER_ALL = uuid.UUID(int=(1 << 128) - 1)


@dataclass(frozen=True, slots=True)
class Judged:
    recipient: Recipient
    benefit: Benefit
    answer: Eligibility
    standing: Standing

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID]:
        return self.recipient.id, self.benefit.id

    @property
    def wants_reminder(self) -> bool:
        """Due soon, or suspended for want of what a certification (or the step after a late
        one) gives; not suspensions a certification cannot lift (suspicion, imprisonment)."""
        return wants_reminder(self.standing, self.answer.reason)


@dataclass(frozen=True, slots=True)
class Scan:
    policies: PolicyBook
    prefix: str
    on: date


T = TypeVar("T", bound=BaseModel)
Pick = Callable[[AsyncSession, list[Judged]], Awaitable[list[tuple[Judged, T]]]]


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """An authorized listing over a region: served as cursor pages or as NDJSON."""

    scan: Scan
    pick: Pick[T]

    async def page(self, session: AsyncSession, limit: int, cursor: str | None) -> Page[T]:
        """Items in (recipient, benefit) order; fewer than ``limit`` when the scan bound is hit
        first, so follow next_cursor until it is null."""
        start = None if cursor is None else decode_ids(cursor)
        after, inclusive = (None, False) if start is None else (start[0], True)
        items: list[T] = []
        scanned = 0
        while scanned < MAX_SCANNED_PER_PAGE:
            ids = await recipient_ids(session, self.scan.prefix, after, inclusive=inclusive)
            if not ids:
                return Page(items=items, next_cursor=None)
            judged = [j for j in await judge(session, self.scan, ids) if not start or j.key > start]
            for entry, item in await self.pick(session, judged):
                items.append(item)
                if len(items) == limit:
                    return Page(items=items, next_cursor=encode_ids(*entry.key))
            after, inclusive, scanned = ids[-1], False, scanned + len(ids)
            session.expunge_all()  # read-only: keep memory flat over a long scan
        assert after is not None
        return Page(items=items, next_cursor=encode_ids(after, _AFTER_ALL))

    async def stream(self, sessions: SessionMaker) -> AsyncIterator[bytes]:
        after = None
        while True:
            async with sessions() as session:
                ids = await recipient_ids(session, self.scan.prefix, after)
                if not ids:
                    return
                picked = await self.pick(session, await judge(session, self.scan, ids))
            after = ids[-1]
            if picked:
                yield b"".join(item.model_dump_json().encode() + b"\n" for _, item in picked)


def prepare(principal: Principal, policies: PolicyBook, prefix: str, on: date) -> Scan:
    """Check the region and that a policy governs it, before anything is served (the role
    was checked against app/access.py when the caller was authenticated)."""
    principal.require_prefix(prefix)
    region_policy(policies, prefix, on)
    return Scan(policies, prefix, on)


def region_policy(policies: PolicyBook, prefix: str, on: date) -> Policy:
    policy = policies.for_agency(prefix, on)
    if policy is None:
        raise Unprocessable(f"no policy covers agency {prefix}", code="no_policy_for_agency")
    return policy


def reminders(
    principal: Principal, protector: IdProtector, policies: PolicyBook, prefix: str, on: date
) -> Listing[ReminderItem]:
    """County clients in their regions, admin anywhere."""
    scan = prepare(principal, policies, prefix, on)
    reveal = reveals_phone(principal)

    async def pick(_: AsyncSession, judged: list[Judged]) -> list[tuple[Judged, ReminderItem]]:
        return [(j, reminder_item(j, on, reveal, protector)) for j in judged if j.wants_reminder]

    return Listing(scan, pick)


def reveals_phone(principal: Principal) -> bool:
    # Bulk lists leak whole districts at once (app/access.py): a county reads one number on
    # the recipient; the notice gateway gets its messages through webhooks.
    return principal.role in FULL_PHONE_LISTING_ROLES


def mask_phone(phone: str | None) -> str | None:
    if phone is None or len(phone) <= 7:
        return None if phone is None else "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def reminder_item(judged: Judged, on: date, reveal: bool, protector: IdProtector) -> ReminderItem:
    """The phone is opened here, for the item only (masked unless ``reveal``)."""
    answer, benefit, recipient = judged.answer, judged.benefit, judged.recipient
    phone = unseal(protector, RECIPIENT_PHONE, recipient.id, recipient.phone_ciphertext)
    return ReminderItem(
        recipient_id=judged.recipient.id,
        benefit_id=benefit.id,
        benefit_type=benefit.benefit_type,
        agency_code=benefit.agency_code,
        status=answer.status,
        reason=str(answer.reason),
        valid_through=answer.valid_through,
        next_due=answer.next_due,
        days_left=None if answer.next_due is None else (answer.next_due - on).days,
        phone=phone if reveal else mask_phone(phone),
    )


async def recipient_ids(
    session: AsyncSession,
    prefix: str,
    after: uuid.UUID | None,
    *,
    inclusive: bool = False,
) -> list[uuid.UUID]:
    """The next chunk of recipients with a benefit in the region (keyset on recipient id)."""
    return await regions.recipient_ids(
        session, prefix, after, RECIPIENTS_PER_CHUNK, inclusive=inclusive
    )


async def judge(session: AsyncSession, scan: Scan, ids: Sequence[uuid.UUID]) -> list[Judged]:
    """The engine's answer for every benefit in the region of these recipients."""
    recipients = await regions.recipients_with_benefits(session, ids)
    book = await load_facts(session, ids)
    judged = [
        Judged(
            recipient, benefit, answer, standing_of(answer, scan.on, policy.reminder_lead_months)
        )
        for recipient in recipients
        for benefit, policy, answer in evaluate_recipient(recipient, book, scan.policies, scan.on)
        if benefit.agency_code.startswith(scan.prefix)
    ]
    return sorted(judged, key=lambda j: j.key)
