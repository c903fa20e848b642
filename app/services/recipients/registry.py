"""The history of the registry fields that decide a cycle (docs/policy.md §3): written in the
transaction that changes them, read with the other facts (`app.services.eligibility.facts`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import new_id
from app.db.locks import lock_recipient
from app.db.models import Recipient, RegistryHistory
from app.domain.events import RegistryFact


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
    for row in await session.execute(
        select(
            RegistryHistory.benefit_id,
            RegistryHistory.emergency_contacts,
            RegistryHistory.funeral_subsidy_area,
            RegistryHistory.valid_from,
            RegistryHistory.recorded_at,
        ).where(RegistryHistory.recipient_id == recipient.id)
    ):
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


def changed_registry_rows(
    recipient_ids: Sequence[uuid.UUID],
) -> Select[uuid.UUID, uuid.UUID | None, int | None, bool | None, datetime, datetime]:
    """The registry history of those of ``recipient_ids`` with any change (a recipient whose
    values never changed is decided by its current ones: nothing to read)."""
    changed = (
        select(RegistryHistory.recipient_id)
        .where(RegistryHistory.recipient_id.in_(recipient_ids), RegistryHistory.is_change)
        .distinct()
    )
    return select(
        RegistryHistory.recipient_id,
        RegistryHistory.benefit_id,
        RegistryHistory.emergency_contacts,
        RegistryHistory.funeral_subsidy_area,
        RegistryHistory.valid_from,
        RegistryHistory.recorded_at,
    ).where(RegistryHistory.recipient_id.in_(changed))


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


def registry_fact(
    benefit_id: uuid.UUID | str | None,
    contacts: int | None,
    funeral: bool | None,
    valid_from: datetime,
    recorded_at: datetime,
) -> RegistryFact:
    """A stored value as the engine reads it."""
    if benefit_id is None:
        return RegistryFact(None, contacts, valid_from, recorded_at)
    return RegistryFact(str(benefit_id), funeral, valid_from, recorded_at)


def registry_facts(rows: Iterable[Any]) -> list[RegistryFact]:
    """Rows of (benefit_id, emergency_contacts, funeral_subsidy_area, valid_from, recorded_at)."""
    return [registry_fact(*row) for row in rows]
