"""Statistics' queries (GET /v1/stats): the standings the sweep stored, the benefits it has not
decided, and the aggregate figures over certification columns, filtered by the domain's
`ProgressScope`."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Exists, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.filters import in_regions
from app.db.models import Benefit, BenefitState, Certification
from app.domain.enums import Channel
from app.domain.progress import ProgressScope

# No snapshot of the day, or one written before the sweep stored standings (revision 0016).
_unswept = or_(BenefitState.benefit_id.is_(None), BenefitState.standing.is_(None))


def _state_of(on: date) -> ColumnElement[bool]:
    """The join to a benefit's sweep answer for ``on``."""
    return and_(BenefitState.benefit_id == Benefit.id, BenefitState.swept_on == on)


async def swept_standings(session: AsyncSession, prefix: str, on: date) -> tuple[Counter[str], int]:
    """One pass over the region: how many benefits the sweep stored each standing for on
    ``on``, and how many have none for ``on``."""
    unswept = "unswept"  # no standing is spelled so
    bucket = case((_unswept, literal(unswept)), else_=BenefitState.standing).label("bucket")
    # Grouped through a subquery: PostgreSQL cannot match a GROUP BY expression to the select
    # list when both carry bound parameters.
    rows = (
        select(bucket)
        .select_from(Benefit)
        .outerjoin(BenefitState, _state_of(on))
        .where(in_regions(Benefit.agency_code, [prefix]))
        .subquery()
    )
    counts: Counter[str] = Counter()
    for value, count in await session.execute(
        select(rows.c.bucket, func.count()).group_by(rows.c.bucket)
    ):
        counts[value] += count
    return counts, counts.pop(unswept, 0)


async def unswept_benefits(
    session: AsyncSession, prefix: str, on: date
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(recipient id, benefit id) of the region's benefits with no standing stored for ``on``."""
    rows = await session.execute(
        select(Benefit.recipient_id, Benefit.id)
        .outerjoin(BenefitState, _state_of(on))
        .where(in_regions(Benefit.agency_code, [prefix]), _unswept)
    )
    return [(recipient_id, benefit_id) for recipient_id, benefit_id in rows]


def _counted(scope: ProgressScope, *since: ColumnElement[bool]) -> Exists:
    """The benefit's recipient has a certification that counts in ``scope``."""
    return (
        select(Certification.id)
        .where(
            Certification.recipient_id == Benefit.recipient_id,
            Certification.counted.is_(True),
            Certification.revoked_at.is_(None),
            Certification.occurred_at < scope.until,
            Certification.channel.in_(list(scope.channels)),
            *since,
        )
        .exists()
    )


async def never_certified(session: AsyncSession, prefix: str, scope: ProgressScope) -> int:
    """The region's benefits whose recipient has no certification that counts (an anti-join,
    a hash join on PostgreSQL)."""
    region = in_regions(Benefit.agency_code, [prefix])
    never = await session.scalar(
        select(func.count()).select_from(Benefit).where(region, ~_counted(scope))
    )
    return never or 0


async def window_progress(
    session: AsyncSession, prefix: str, scope: ProgressScope
) -> tuple[Counter[int], Counter[int]]:
    """By index into ``scope.windows``: the region's benefits in each window, and those of them
    certified since its coverage started (one semi-join for every window)."""
    windows = scope.windows
    instant = Certification.occurred_at.type
    window_of = case(
        *(
            (
                and_(
                    Benefit.benefit_type.in_(list(w.benefit_types)),
                    Benefit.start_date < w.started_before,
                ),
                literal(index),
            )
            for index, w in enumerate(windows)
        )
    )
    since_of = case(
        *(
            (Benefit.benefit_type.in_(list(w.benefit_types)), literal(w.certified_from, instant))
            for w in windows
        )
    )
    region = in_regions(Benefit.agency_code, [prefix])
    totals = await _per_window(session, window_of, region)
    done = await _per_window(
        session, window_of, region, _counted(scope, Certification.occurred_at >= since_of)
    )
    return totals, done


async def _per_window(
    session: AsyncSession, window_of: ColumnElement[Any], *where: ColumnElement[bool]
) -> Counter[int]:
    # Through a subquery, as in swept_standings: the CASE carries bound parameters.
    rows = select(window_of.label("window")).select_from(Benefit).where(*where).subquery()
    found = await session.execute(
        select(rows.c.window, func.count())
        .where(rows.c.window.is_not(None))
        .group_by(rows.c.window)
    )
    return Counter({index: count for index, count in found})


async def by_channel(
    session: AsyncSession, prefix: str, scope: ProgressScope
) -> dict[Channel, int]:
    """Counted, unrevoked certifications from ``scope.channels_from`` until ``scope.until`` by
    recipients with a benefit in the region, each once however many benefits they have there."""
    region = in_regions(Benefit.agency_code, [prefix])
    rows = await session.execute(
        select(Certification.channel, func.count())
        .where(
            Certification.counted.is_(True),
            Certification.revoked_at.is_(None),
            Certification.occurred_at >= scope.channels_from,
            Certification.occurred_at < scope.until,
            Certification.recipient_id.in_(select(Benefit.recipient_id).where(region)),
        )
        .group_by(Certification.channel)
    )
    counts = dict.fromkeys(Channel, 0)
    counts.update({Channel(channel): count for channel, count in rows})
    return counts
