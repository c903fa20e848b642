"""Reminders, statistics and risk signals for a region (docs/reporting.md).

Every status here comes from `evaluate_recipient`, over keyset chunks of the recipients with
a benefit in the region and `load_facts` per chunk, or from the sweep's snapshot of the same
answers (`benefit_states`): SQL counts stored answers but never re-derives a rule. Listings
page by cursor or stream as NDJSON, a fresh session per chunk, in constant memory.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Exists,
    and_,
    case,
    distinct,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth import Principal
from app.db.engine import SessionMaker
from app.db.filters import in_regions
from app.db.models import Benefit, BenefitState, Certification, Recipient, VerificationCase
from app.domain.eligibility import Eligibility
from app.domain.enums import CertificationResult, Channel, EligibilityStatus, Role
from app.domain.months import Month
from app.domain.policy import Policy, PolicyBook
from app.domain.reasons import LACK_OF_CERTIFICATION
from app.errors import Conflict, Unprocessable
from app.schemas.common import Page
from app.schemas.reporting import (
    AfterDeathSignal,
    FailureSignal,
    FirstCertificationProgress,
    ReminderItem,
    RiskSignals,
    RiskThresholds,
    Stats,
    VolumeSignal,
)
from app.services.eligibility import evaluate_recipient
from app.services.facts import load_facts
from app.services.policies import SERVICE_TIMEZONE, today

# Recipients per engine chunk (and NDJSON write): a fraction of a second of engine work, and
# an IN list well within both databases' parameter limits.
RECIPIENTS_PER_CHUNK = 1000
# A page stops scanning after this many recipients even if short of `limit` (a region with
# few due benefits would otherwise make one page evaluate the whole region).
MAX_SCANNED_PER_PAGE = 20_000
# The engine decides 2,500 to 6,000 benefits a second on the benchmark machine; stats decide
# at most this many benefits the sweep has not (ten to twenty seconds), else 409.
STATS_MAX_EVALUATED = 50_000
# by_channel covers the last twelve months: every certification a 12-month cycle still counts.
CHANNEL_WINDOW_MONTHS = 12
_AFTER_ALL = uuid.UUID(int=(1 << 128) - 1)


class Standing(StrEnum):
    """Where a benefit stands for reporting: the engine's status, with eligible split by
    whether its next due date falls within the policy's reminder lead time."""

    VALID = "valid"
    DUE = "due"
    SUSPENDED = EligibilityStatus.SUSPENDED.value
    STOPPED = EligibilityStatus.STOPPED.value
    AWAITING = EligibilityStatus.AWAITING_FIRST_CERTIFICATION.value
    NOT_REQUIRED = EligibilityStatus.NOT_REQUIRED.value


def standing_of(answer: Eligibility, on: date, lead_months: int) -> Standing:
    if answer.status is not EligibilityStatus.ELIGIBLE:
        return Standing(answer.status.value)
    # "提前1个月督促": due from the first day of the last `lead` months of validity, and still
    # due while overdue but payable (grace before enforcement, a moratorium).
    if answer.next_due is not None and answer.next_due < due_bound(on, lead_months):
        return Standing.DUE
    return Standing.VALID


def due_bound(on: date, lead_months: int) -> date:
    return (Month.of(on) + lead_months).first_day


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
        return self.standing is Standing.DUE or (
            self.standing is Standing.SUSPENDED and self.answer.reason in LACK_OF_CERTIFICATION
        )


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
        start = None if cursor is None else decode_cursor(cursor)
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
                    return Page(items=items, next_cursor=encode_cursor(*entry.key))
            after, inclusive, scanned = ids[-1], False, scanned + len(ids)
            session.expunge_all()  # read-only: keep memory flat over a long scan
        assert after is not None
        return Page(items=items, next_cursor=encode_cursor(after, _AFTER_ALL))

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


def prepare(
    principal: Principal, policies: PolicyBook, prefix: str, on: date, *roles: Role
) -> Scan:
    """Check role, region and that a policy governs the region, before anything is served."""
    principal.require(*roles)
    principal.require_prefix(prefix)
    region_policy(policies, prefix, on)
    return Scan(policies, prefix, on)


def region_policy(policies: PolicyBook, prefix: str, on: date) -> Policy:
    policy = policies.for_agency(prefix, on)
    if policy is None:
        raise Unprocessable(f"no policy covers agency {prefix}", code="no_policy_for_agency")
    return policy


def reminders(
    principal: Principal, policies: PolicyBook, prefix: str, on: date
) -> Listing[ReminderItem]:
    """County clients in their regions; the notice gateway (mobile) and admin anywhere."""
    scan = prepare(principal, policies, prefix, on, Role.COUNTY, Role.MOBILE)
    reveal = reveals_phone(principal)

    async def pick(_: AsyncSession, judged: list[Judged]) -> list[tuple[Judged, ReminderItem]]:
        return [(j, reminder_item(j, on, reveal)) for j in judged if j.wants_reminder]

    return Listing(scan, pick)


def reveals_phone(principal: Principal) -> bool:
    # Bulk lists leak whole districts at once: full numbers go only to the notice gateway that
    # sends the SMS (mobile role) and to admin; a county reads one number on the recipient.
    return principal.role in (Role.MOBILE, Role.ADMIN)


def mask_phone(phone: str | None) -> str | None:
    if phone is None or len(phone) <= 7:
        return None if phone is None else "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def reminder_item(judged: Judged, on: date, reveal: bool) -> ReminderItem:
    answer, benefit, phone = judged.answer, judged.benefit, judged.recipient.phone
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
    query = select(Benefit.recipient_id).distinct().where(in_regions(Benefit.agency_code, [prefix]))
    if after is not None:
        query = query.where(
            Benefit.recipient_id >= after if inclusive else Benefit.recipient_id > after
        )
    rows = await session.scalars(query.order_by(Benefit.recipient_id).limit(RECIPIENTS_PER_CHUNK))
    return list(rows)


async def judge(session: AsyncSession, scan: Scan, ids: Sequence[uuid.UUID]) -> list[Judged]:
    """The engine's answer for every benefit in the region of these recipients."""
    recipients = await session.scalars(
        select(Recipient).where(Recipient.id.in_(ids)).options(selectinload(Recipient.benefits))
    )
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


def encode_cursor(recipient_id: uuid.UUID, benefit_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{recipient_id}|{benefit_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        recipient, benefit = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return uuid.UUID(recipient), uuid.UUID(benefit)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Unprocessable(
            "the cursor is not one this service issued", code="invalid_cursor"
        ) from None


# --- statistics -----------------------------------------------------------------------------


async def stats(
    session: AsyncSession, principal: Principal, policies: PolicyBook, prefix: str, on: date
) -> Stats:
    """Counts for a county's progress report. Standings come from the sweep's snapshot of
    ``on`` where it has one, from the engine for the rest (new benefits, or no sweep that day);
    the other figures are aggregate queries."""
    scan = prepare(principal, policies, prefix, on, Role.COUNTY)
    policy = region_policy(policies, prefix, on)
    region = in_regions(Benefit.agency_code, [prefix])
    await custom_plans(session)
    swept = await _swept_counts(session, policy, region, on)
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


async def custom_plans(session: AsyncSession) -> None:
    """Plan each region aggregate for its own bounds. After five runs of a prepared statement
    PostgreSQL may switch to a generic plan, which cannot see that a region holds a million
    benefits: measured on the benchmark, by_channel took 13.3 s instead of 1.8 s."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _state_of(on: date) -> ColumnElement[bool]:
    """The join to a benefit's sweep answer for ``on``."""
    return and_(BenefitState.benefit_id == Benefit.id, BenefitState.swept_on == on)


async def _swept_counts(
    session: AsyncSession, policy: Policy, region: ColumnElement[bool], on: date
) -> Counter[str]:
    """One pass over the region: the snapshot's answers for ``on``, split as `standing_of`
    splits the engine's (an eligible benefit's next due date is its valid_through, else its
    window's first deadline), and how many benefits have no answer for ``on`` (``unswept``)."""
    deadline = case(
        *(
            (
                Benefit.benefit_type.in_(list(window.benefit_types)),
                window.first_certification_deadline,
            )
            for window in policy.first_certification
        )
    )
    next_due = func.coalesce(BenefitState.valid_through, deadline)
    bound = due_bound(on, policy.reminder_lead_months)
    eligible = case(
        (next_due < bound, literal(Standing.DUE.value)), else_=literal(Standing.VALID.value)
    )
    bucket = case(
        (BenefitState.benefit_id.is_(None), literal(_UNSWEPT)),
        (BenefitState.status == EligibilityStatus.ELIGIBLE.value, eligible),
        else_=BenefitState.status,
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
        .where(region, BenefitState.benefit_id.is_(None))
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

# Defaults, each overridable per request. A family phone certifies two parents; three or more
# people on one device is how agents certifying for the dead (冒领) show up.
DEVICE_MIN_RECIPIENTS = 3
# A window clerk or terminal operator handles well under 100 a day even before a deadline.
OPERATOR_MIN_PER_DAY = 150
# A village service point or bank branch: a few hundred a day at the busiest.
SERVICE_POINT_MIN_PER_DAY = 300
# Repeated failed attempts: someone trying a face that is not theirs, or one who needs a visit.
FAILED_ATTEMPTS_MIN = 3
SIGNALS_PER_KIND = 100
CERTIFICATIONS_PER_SIGNAL = 50


async def risk_signals(
    session: AsyncSession,
    principal: Principal,
    prefix: str,
    since: date,
    now: datetime,
    thresholds: RiskThresholds,
) -> RiskSignals:
    """Aggregates over the certifications, since ``since`` (Beijing), of recipients with a
    benefit in the region: all attempts count, passed or not."""
    principal.require(Role.COUNTY)
    principal.require_prefix(prefix)
    await custom_plans(session)
    start = datetime.combine(since, time(), SERVICE_TIMEZONE)
    if start > now:
        raise Unprocessable("since is in the future", code="since_in_future")
    days = (today(now) - since).days + 1
    region = select(Benefit.recipient_id).where(in_regions(Benefit.agency_code, [prefix]))
    window = [
        Certification.occurred_at >= start,
        Certification.occurred_at <= now,
        Certification.recipient_id.in_(region),
    ]
    people = func.count(distinct(Certification.recipient_id))
    failures = [
        FailureSignal(recipient_id=key, failed_attempts=count, **ids)
        for key, count, _, ids in await _volume(
            session,
            Certification.recipient_id,
            [*window, Certification.result == CertificationResult.FAILED],
            func.count() >= thresholds.failed_attempts_min,
        )
    ]
    return RiskSignals(
        agency_code=prefix,
        since=since,
        until=now,
        thresholds=thresholds,
        devices=await _volume_signals(
            session, Certification.device_id, window, people >= thresholds.device_min_recipients
        ),
        operators=await _volume_signals(
            session,
            Certification.operator,
            window,
            func.count() >= thresholds.operator_min_per_day * days,
        ),
        service_points=await _volume_signals(
            session,
            Certification.service_point,
            window,
            func.count() >= thresholds.service_point_min_per_day * days,
        ),
        repeated_failures=failures,
        after_death=[
            AfterDeathSignal(
                recipient_id=row.recipient_id,
                certification_id=row.certification_id,
                case_id=row.case_id,
                occurred_at=row.occurred_at,
            )
            for row in await session.execute(
                select(
                    VerificationCase.id.label("case_id"),
                    Certification.recipient_id,
                    Certification.id.label("certification_id"),
                    Certification.occurred_at,
                )
                .join(Certification, Certification.id == VerificationCase.certification_id)
                .where(VerificationCase.reason == "certified_after_death", *window)
                .order_by(Certification.occurred_at)
                .limit(SIGNALS_PER_KIND)
            )
        ],
    )


async def _volume_signals(
    session: AsyncSession,
    column: Any,
    window: list[ColumnElement[bool]],
    having: ColumnElement[bool],
) -> list[VolumeSignal]:
    return [
        VolumeSignal(key=key, certifications=count, recipients=recipients, **ids)
        for key, count, recipients, ids in await _volume(session, column, window, having)
    ]


async def _volume(
    session: AsyncSession,
    column: Any,
    window: list[ColumnElement[bool]],
    having: ColumnElement[bool],
) -> list[tuple[Any, int, int, dict[str, Any]]]:
    """Keys of ``column`` whose certifications in the window meet ``having``, busiest first,
    each with the (first few) certifications behind it."""
    count = func.count()
    rows = await session.execute(
        select(column, count, func.count(distinct(Certification.recipient_id)))
        .where(*window, column.is_not(None))
        .group_by(column)
        .having(having)
        .order_by(count.desc(), column)
        .limit(SIGNALS_PER_KIND)
    )
    found = rows.all()
    # The first few certifications of every flagged key in one scan (a query per key would
    # scan the window once per key: 35 s for a province's year on the benchmark).
    ranked = (
        select(
            column.label("key"),
            Certification.id.label("certification_id"),
            func.row_number()
            .over(partition_by=column, order_by=(Certification.occurred_at, Certification.id))
            .label("n"),
        )
        .where(*window, column.in_([key for key, _, _ in found]))
        .subquery()
    )
    behind: dict[Any, list[uuid.UUID]] = {key: [] for key, _, _ in found}
    if found:
        for key, certification_id in await session.execute(
            select(ranked.c.key, ranked.c.certification_id)
            .where(ranked.c.n <= CERTIFICATIONS_PER_SIGNAL)
            .order_by(ranked.c.key, ranked.c.n)
        ):
            behind[key].append(certification_id)
    return [
        (
            key,
            total,
            recipients,
            {"certification_ids": behind[key], "truncated": total > len(behind[key])},
        )
        for key, total, recipients in found
    ]
