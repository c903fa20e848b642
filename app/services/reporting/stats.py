"""Progress statistics for a region (GET /v1/stats, docs/reporting.md).

Every standing counted here is `app.domain.progress.standing_of` of the engine's answer:
stored by the sweep for the day asked about (`benefit_states.standing`), or computed for the
request by `evaluate_recipient` over chunks of the benefits the sweep has not decided. The
other figures are aggregates over certification columns, filtered by the domain's
`progress_scope` (app/db/reporting/progress.py): SQL counts, it never decides a rule.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.plans import prefer_custom_plans
from app.db.reporting import progress
from app.domain.policy import PolicyBook
from app.domain.progress import ProgressScope, Standing, progress_scope
from app.errors import Conflict
from app.schemas.reporting import FirstCertificationProgress, Stats
from app.services.reporting.scans import RECIPIENTS_PER_CHUNK, Scan, judge, prepare, region_policy

# The engine decides 2,500 to 6,000 benefits a second on the benchmark machine; stats decide
# at most this many benefits the sweep has not (ten to twenty seconds), else 409.
STATS_MAX_EVALUATED = 50_000


async def stats(
    session: AsyncSession, principal: Principal, policies: PolicyBook, prefix: str, on: date
) -> Stats:
    """Counts for a county's progress report. Standings come from the sweep's snapshot of
    ``on`` where it has one, from the engine for the rest (new benefits, or no sweep that day);
    the other figures are aggregate queries."""
    scan = prepare(principal, policies, prefix, on)
    policy = region_policy(policies, prefix, on)
    await prefer_custom_plans(session)
    swept, unswept = await progress.swept_standings(session, prefix, on)
    if unswept > STATS_MAX_EVALUATED:
        raise Conflict(
            f"{unswept} benefits have no sweep for {on}: run the sweep, or ask about a smaller"
            " region",
            code="sweep_required",
        )
    counts = Counter({Standing(value): count for value, count in swept.items()})
    from_sweep = sum(counts.values())
    # Finding no unswept benefit still scans the region: skip it when the snapshot is whole.
    evaluated = await _evaluate_unswept(session, scan, counts) if unswept else 0
    scope = progress_scope(policy, on)
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
        never_certified=await progress.never_certified(session, prefix, scope),
        by_channel=await progress.by_channel(session, prefix, scope),
        channels_since=scope.channels_since,
        first_certification=await _first_certification(session, prefix, scope),
        from_sweep=from_sweep,
        evaluated=evaluated,
    )


async def _evaluate_unswept(session: AsyncSession, scan: Scan, counts: Counter[Standing]) -> int:
    """Decide with the engine the benefits the snapshot lacks: found in one query (they are
    at most STATS_MAX_EVALUATED), decided a chunk of recipients at a time."""
    pairs = await progress.unswept_benefits(session, scan.prefix, scan.on)
    wanted = {benefit_id for _, benefit_id in pairs}
    ids = sorted({recipient_id for recipient_id, _ in pairs})
    for start in range(0, len(ids), RECIPIENTS_PER_CHUNK):
        for judged in await judge(session, scan, ids[start : start + RECIPIENTS_PER_CHUNK]):
            if judged.benefit.id in wanted:
                counts[judged.standing] += 1
        session.expunge_all()  # read-only: keep memory flat over 50,000 benefits
    return len(wanted)


async def _first_certification(
    session: AsyncSession, prefix: str, scope: ProgressScope
) -> list[FirstCertificationProgress]:
    """Each first-certification window's progress: PostgreSQL runs its queries as hash joins
    over the region."""
    totals, done = await progress.window_progress(session, prefix, scope)
    return [
        FirstCertificationProgress(
            benefit_types=sorted(w.benefit_types),
            coverage_start=w.window.coverage_start,
            deadline=w.window.first_certification_deadline,
            enforcement_starts=w.window.enforcement_starts,
            in_scope=totals[index],
            certified=done[index],
            remaining=totals[index] - done[index],
        )
        for index, w in enumerate(scope.windows)
    ]
