"""The facts through SQLAlchemy, for any database (SQLite's path; correct on PostgreSQL too):
one query per kind of fact per chunk of recipients, columns rather than entities where the
entity is not needed."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.facts.convert import (
    case_fact,
    certification_fact,
    moratorium_fact,
    step_fact,
    stop_fact,
)
from app.db.facts.records import FactBook, Facts, RecipientRow, chunks, registry_fact
from app.db.models import (
    Certification,
    Moratorium,
    Recipient,
    RegistryHistory,
    ResumptionStep,
    StopReport,
    VerificationCase,
)
from app.db.read_pool import ReadPool
from app.domain.enums import Channel


class PortableFactSource:
    """`FactSource` through the ORM and Core."""

    async def load_facts(
        self, session: AsyncSession, recipient_ids: Collection[uuid.UUID]
    ) -> FactBook:
        """Five queries per chunk of recipients (certifications, stops, cases, steps,
        registry history) plus one for the moratoria."""
        facts: dict[uuid.UUID, Facts] = defaultdict(Facts)
        for chunk in chunks(list(recipient_ids)):
            for row in await session.execute(
                counted_certification_rows(chunk).add_columns(Certification.counted)
            ):
                facts[row.recipient_id].certifications.append(certification_fact(row))
            for stop in await session.scalars(
                select(StopReport).where(StopReport.recipient_id.in_(chunk))
            ):
                facts[stop.recipient_id].stops.append(stop_fact(stop))
            for case in await session.scalars(
                select(VerificationCase).where(VerificationCase.recipient_id.in_(chunk))
            ):
                facts[case.recipient_id].cases.append(case_fact(case))
            for step in await session.scalars(
                select(ResumptionStep).where(ResumptionStep.recipient_id.in_(chunk))
            ):
                facts[step.recipient_id].steps.append(step_fact(step))
            for rid, bid, contacts, funeral, valid_from, recorded_at in await session.execute(
                changed_registry_rows(chunk)
            ):
                facts[rid].registry.append(
                    registry_fact(bid, contacts, funeral, valid_from, recorded_at)
                )
        # Moratoria are few (an admin sets them): the engine matches prefixes and types.
        moratoria = [moratorium_fact(row) for row in await session.scalars(select(Moratorium))]
        return FactBook({rid: facts[rid] for rid in recipient_ids}, moratoria)

    async def load_recipient_facts(
        self, session: AsyncSession, recipient_id: uuid.UUID, pool: ReadPool | None = None
    ) -> tuple[RecipientRow, FactBook] | None:
        """The recipient as an ORM entity, refreshed from the database, with its benefits;
        ``pool`` (PostgreSQL's) plays no part here."""
        recipient = await session.scalar(
            select(Recipient)
            .where(Recipient.id == recipient_id)
            .options(selectinload(Recipient.benefits))
            .execution_options(populate_existing=True)
        )
        if recipient is None:
            return None
        return recipient, await self.load_facts(session, [recipient.id])


def counted_certification_rows(
    recipient_ids: Sequence[uuid.UUID],
) -> Select[uuid.UUID, uuid.UUID, Channel, datetime, datetime, datetime | None]:
    """The counted certifications of ``recipient_ids``: (recipient_id, id, channel,
    occurred_at, recorded_at, revoked_at). Columns, not entities: the evidence JSON is not
    needed to decide, and building ORM objects for it was half the cost of a payment run."""
    return select(
        Certification.recipient_id,
        Certification.id,
        Certification.channel,
        Certification.occurred_at,
        Certification.recorded_at,
        Certification.revoked_at,
    ).where(Certification.recipient_id.in_(recipient_ids), Certification.counted.is_(True))


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
