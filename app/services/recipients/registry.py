"""The history of the registry fields that decide a cycle (docs/policy.md §3): written in the
transaction that changes them, read with the other facts (`app.db.facts`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import recipients
from app.db.base import new_id
from app.db.locks import lock_recipient
from app.db.models import Recipient, RegistryHistory


async def record_registry(session: AsyncSession, recipient: Recipient, now: datetime) -> None:
    """Append a value, valid from and recorded at ``now``, for each field of ``recipient``
    (loaded with its benefits, as this transaction leaves it) whose value differs from the
    last one recorded: the number of emergency contacts and each benefit's funeral-subsidy
    flag. A field with no value yet gets its first (``is_change`` false): the registration.

    Under the recipient's lock, so two writers of one person append in turn and each compares
    with what the other committed. A person's values are recorded at strictly increasing
    instants, in the order the writers got the lock: a writer whose clock read ``now`` before
    the one that went first records a microsecond after it, so the newest value recorded is
    always the one the registry holds."""
    await lock_recipient(session, recipient.id)
    latest: dict[uuid.UUID | None, Any] = {}
    at = now
    for row in await recipients.registry_history(session, recipient.id):
        at = max(at, row.recorded_at + _TICK)
        held = latest.get(row.benefit_id)
        if held is None or (row.recorded_at, row.valid_from) > (held.recorded_at, held.valid_from):
            latest[row.benefit_id] = row
    rows = []
    contacts = latest.get(None)
    if contacts is None or contacts.emergency_contacts != recipient.emergency_contacts:
        rows.append(
            _row(recipient.id, None, recipient.emergency_contacts, None, at, contacts is not None)
        )
    for benefit in recipient.benefits:
        flag = latest.get(benefit.id)
        if flag is None or flag.funeral_subsidy_area is not benefit.funeral_subsidy_area:
            rows.append(
                _row(
                    recipient.id,
                    benefit.id,
                    None,
                    benefit.funeral_subsidy_area,
                    at,
                    flag is not None,
                )
            )
    if rows:
        session.add_all(rows)
        await session.flush()


_TICK = timedelta(microseconds=1)


def _row(
    recipient_id: uuid.UUID,
    benefit_id: uuid.UUID | None,
    contacts: int | None,
    funeral: bool | None,
    now: datetime,
    is_change: bool,
) -> RegistryHistory:
    return RegistryHistory(
        id=new_id(),
        recipient_id=recipient_id,
        benefit_id=benefit_id,
        emergency_contacts=contacts,
        funeral_subsidy_area=funeral,
        valid_from=now,
        recorded_at=now,
        is_change=is_change,
    )
