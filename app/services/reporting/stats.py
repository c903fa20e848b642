"""Progress statistics for a region (GET /v1/stats, docs/reporting.md).

Every status here comes from `evaluate_recipient`, over keyset chunks of the recipients with
a benefit in the region and `load_facts` per chunk, or from the sweep's snapshot of the same
answers (`benefit_states`): SQL counts stored answers but never re-derives a rule. Listings
page by cursor or stream as NDJSON, a fresh session per chunk, in constant memory.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Exists,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.filters import in_regions
from app.db.models import Benefit, BenefitState, Certification
from app.domain.enums import Channel
from app.domain.months import Month
from app.domain.policy import Policy, PolicyBook
from app.domain.progress import Standing
from app.errors import Conflict
from app.schemas.reporting import (
    FirstCertificationProgress,
    Stats,
)
from app.services.reporting.scans import (
    RECIPIENTS_PER_CHUNK,
    Scan,
    custom_plans,
    judge,
    prepare,
    region_policy,
)

# The engine decides 2,500 to 6,000 benefits a second on the benchmark machine; stats decide
# at most this many benefits the sweep has not (ten to twenty seconds), else 409.
STATS_MAX_EVALUATED = 50_000
# by_channel covers the last twelve months: every certification a 12-month cycle still counts.
CHANNEL_WINDOW_MONTHS = 12


async def stats(
    session: AsyncSession, principal: Principal, policies: PolicyBook, prefix: str, on: date
) -> Stats:
    """Counts for a county's progress report. Standings come from the sweep's snapshot of
    ``on`` where it has one, from the engine for the rest (new benefits, or no sweep that day);
    the other figures are aggregate queries."""
    scan = prepare(principal, policies, prefix, on)
    policy = region_policy(policies, prefix, on)
    region = in_regions(Benefit.agency_code, [prefix])
    await custom_plans(session)
    swept = await _swept_counts(session, region, on)
    unswept = swept.pop(_UNSWEPT, 0)
    if unswept > STATS_MAX_EVALUATED:
        raise Conflict(
            f"{unswept} benefits have no sweep for {on}: run the sweep, or ask about a smaller"
            " region",
            code="sweep_required",
        )
    counts = Counter({Standing(value): count for value, count in swept.items()})
    from_sweep = sum(counts.values())
    # Finding no unswept benefit still scans the region: skip it when the snapshot is whole.
    evaluated = await _evaluate_unswept(session, scan, region, counts) if unswept else 0
    end = _day_start(on + timedelta(days=1), policy)
    since = (Month.of(on) - (CHANNEL_WINDOW_MONTHS - 1)).first_day
    never, windows = await _certification_progress(session, policy, region, end)
    return Stats(
        agency_code=prefix,
        on=on,
        policy=policy.id,
        in_scope=from_sweep + evaluated,
        valid=counts[Standing.VALID],
        due_within_lead_time=counts[Standing.DUE],
        suspended=counts[Standing.SUSPENDED],
        stopped=counts[Standing.STOPPED],
        awaiting_first_certification=counts[Standing.AWAITING],
        not_required=counts[Standing.NOT_REQUIRED],
        never_certified=never,
        by_channel=await _by_channel(session, region, _day_start(since, policy), end),
        channels_since=since,
        first_certification=windows,
        from_sweep=from_sweep,
        evaluated=evaluated,
    )


_UNSWEPT = "unswept"


# No snapshot of the day, or one written before the sweep stored standings (revision 0016).
_unswept = or_(BenefitState.benefit_id.is_(None), BenefitState.standing.is_(None))


def _state_of(on: date) -> ColumnElement[bool]:
    """The join to a benefit's sweep answer for ``on``."""
    return and_(BenefitState.benefit_id == Benefit.id, BenefitState.swept_on == on)


async def _swept_counts(
    session: AsyncSession, region: ColumnElement[bool], on: date
) -> Counter[str]:
    """One pass over the region: the standings the sweep stored for ``on`` (computed by
    `app.domain.progress.standing_of` from the engine's answers), and how many benefits have
    none for ``on`` (``unswept``)."""
    bucket = case(
        (_unswept, literal(_UNSWEPT)),
        else_=BenefitState.standing,
    ).label("bucket")
    # Grouped through a subquery: PostgreSQL cannot match a GROUP BY expression to the select
    # list when both carry bound parameters.
    rows = (
        select(bucket)
        .select_from(Benefit)
        .outerjoin(BenefitState, _state_of(on))
        .where(region)
        .subquery()
    )
    counts: Counter[str] = Counter()
    for value, count in await session.execute(
        select(rows.c.bucket, func.count()).group_by(rows.c.bucket)
    ):
        counts[value] += count
    return counts


async def _evaluate_unswept(
    session: AsyncSession, scan: Scan, region: ColumnElement[bool], counts: Counter[Standing]
) -> int:
    """Decide with the engine the benefits the snapshot lacks: found in one query (they are
    at most STATS_MAX_EVALUATED), decided a chunk of recipients at a time."""
    unswept = (
        select(Benefit.recipient_id, Benefit.id)
        .outerjoin(BenefitState, _state_of(scan.on))
        .where(region, _unswept)
    )
    pairs = (await session.execute(unswept)).all()
    wanted = {benefit_id for _, benefit_id in pairs}
    ids = sorted({recipient_id for recipient_id, _ in pairs})
    for start in range(0, len(ids), RECIPIENTS_PER_CHUNK):
        for judged in await judge(session, scan, ids[start : start + RECIPIENTS_PER_CHUNK]):
            if judged.benefit.id in wanted:
                counts[judged.standing] += 1
        session.expunge_all()  # read-only: keep memory flat over 50,000 benefits
    return len(wanted)


def _day_start(day: date, policy: Policy) -> datetime:
    return datetime.combine(day, time(), policy.tz)


async def _certification_progress(
    session: AsyncSession, policy: Policy, region: ColumnElement[bool], end: datetime
) -> tuple[int, list[FirstCertificationProgress]]:
    """``never_certified`` (an anti-join) and each first-certification window's progress (one
    semi-join for every window): PostgreSQL runs both as hash joins over the region.

    Certifications count as far as columns tell: a death confirmed after the fact is the
    engine's alone to apply. A window's in-scope benefits are those of its types paid before
    coverage started (已领取待遇的人员, by start date); certified, those certified since."""
    windows = policy.first_certification
    instant = Certification.occurred_at.type

    def counted(*since: ColumnElement[bool]) -> Exists:
        return (
            select(Certification.id)
            .where(
                Certification.recipient_id == Benefit.recipient_id,
                Certification.counted.is_(True),
                Certification.revoked_at.is_(None),
                Certification.occurred_at < end,
                Certification.channel.in_(list(policy.accepted_channels)),
                *since,
            )
            .exists()
        )

    window_of = case(
        *(
            (
                and_(
                    Benefit.benefit_type.in_(list(w.benefit_types)),
                    Benefit.start_date < w.coverage_start,
                ),
                literal(index),
            )
            for index, w in enumerate(windows)
        )
    )
    since_of = case(
        *(
            (
                Benefit.benefit_type.in_(list(w.benefit_types)),
                literal(_day_start(w.coverage_start, policy), instant),
            )
            for w in windows
        )
    )
    never = await session.scalar(
        select(func.count()).select_from(Benefit).where(region, ~counted())
    )
    totals = await _per_window(session, window_of, region)
    done = await _per_window(
        session, window_of, region, counted(Certification.occurred_at >= since_of)
    )
    return never or 0, [
        FirstCertificationProgress(
            benefit_types=sorted(w.benefit_types),
            coverage_start=w.coverage_start,
            deadline=w.first_certification_deadline,
            enforcement_starts=w.enforcement_starts,
            in_scope=totals[index],
            certified=done[index],
            remaining=totals[index] - done[index],
        )
        for index, w in enumerate(windows)
    ]


async def _per_window(
    session: AsyncSession, window_of: ColumnElement[Any], *where: ColumnElement[bool]
) -> Counter[int]:
    # Through a subquery, as in _swept_counts: the CASE carries bound parameters.
    rows = select(window_of.label("window")).select_from(Benefit).where(*where).subquery()
    found = await session.execute(
        select(rows.c.window, func.count())
        .where(rows.c.window.is_not(None))
        .group_by(rows.c.window)
    )
    return Counter({index: count for index, count in found})


async def _by_channel(
    session: AsyncSession, region: ColumnElement[bool], since: datetime, end: datetime
) -> dict[Channel, int]:
    """Each certification once, however many of the recipient's benefits lie in the region."""
    rows = await session.execute(
        select(Certification.channel, func.count())
        .where(
            Certification.counted.is_(True),
            Certification.revoked_at.is_(None),
            Certification.occurred_at >= since,
            Certification.occurred_at < end,
            Certification.recipient_id.in_(select(Benefit.recipient_id).where(region)),
        )
        .group_by(Certification.channel)
    )
    counts = dict.fromkeys(Channel, 0)
    counts.update({Channel(channel): count for channel, count in rows})
    return counts


# --- risk signals ---------------------------------------------------------------------------
