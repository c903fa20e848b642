"""What the recorded life events establish about one benefit, as known at a moment.

Stop reports, verification cases, resumption steps and moratoria (`app.domain.events`) become
`Findings`: which months are stopped or withheld in prison, which days a suspicion withholds
payment, when the self-service block is set, which moratoria and steps apply. The rules and the
notice sentences behind them are in docs/policy.md §7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.domain.enums import BenefitType, ResumptionMode
from app.domain.events import (
    CaseFact,
    CaseOutcome,
    LifeEvents,
    MoratoriumFact,
    ResumptionStepFact,
    StopEventFact,
    StopReason,
    ends,
)
from app.domain.months import Month
from app.domain.reasons import Reason, stop_reason

Day = Callable[[datetime], date]
_EVERY_BENEFIT = (StopReason.DEATH, StopReason.IMPRISONMENT, StopReason.RELEASE)
_MONTHS: dict[int, Month] = {}


def month_at(index: int) -> Month:
    """`Month.from_index`, each month built once (a `Month` is immutable, so one can be shared)."""
    month = _MONTHS.get(index)
    if month is None:
        month = Month.from_index(index)
        _MONTHS[index] = month  # bounded: years 1 to 9999 have 119,988 months
    return month


def month_of(day: date) -> Month:
    """`Month.of`, through `month_at`."""
    return month_at(day.year * 12 + day.month - 1)


@dataclass(frozen=True, slots=True)
class Stop:
    """A confirmed condition: paid through the month of ``on``, withheld from the next month
    through ``last_withheld`` (None: for good). ``known_at``: when the agency knew it."""

    reason: Reason  # deceased, a benefit-specific reason, stopped, or incarcerated
    on: date
    known_at: datetime
    last_withheld: Month | None = None
    # Found by the agency's verification (核实停发, a case without a report): certifications
    # made up to ``resolved_on`` stop giving validity after the month of ``on``.
    resolved_on: date | None = None

    @property
    def last_paid(self) -> Month:
        return month_of(self.on)

    @property
    def agency_verified(self) -> bool:
        return self.resolved_on is not None

    def covers(self, month: Month) -> bool:
        until = self.last_withheld
        return self.last_paid < month and (until is None or month <= until)


@dataclass(frozen=True, slots=True)
class Span:
    """Days ``start`` … before ``end`` (None: still open) in the policy's calendar."""

    key: str
    start: date
    end: date | None

    def holds(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


@dataclass(frozen=True, slots=True)
class Findings:
    death: Stop | None = None
    stops: tuple[Stop, ...] = ()  # benefit-specific and agency-verified stops
    incarcerations: tuple[Stop, ...] = ()
    suspicions: tuple[Span, ...] = ()  # unverified loss: withheld while the span holds
    imprisonment_flags: tuple[Span, ...] = ()  # self-service block
    steps: tuple[ResumptionStepFact, ...] = ()
    moratoria: tuple[MoratoriumFact, ...] = ()

    @property
    def quiet(self) -> bool:
        """Nothing stops or withholds: only certifications (and moratoria) decide."""
        return not (self.death or self.stops or self.incarcerations or self.suspicions)

    @property
    def every_stop(self) -> tuple[Stop, ...]:
        death = () if self.death is None else (self.death,)
        return (*death, *self.stops, *self.incarcerations)

    def stop_in(self, month: Month) -> Stop | None:
        """The stop that decides ``month``: deceased > stopped > incarcerated."""
        if self.quiet:
            return None
        if self.death is not None and self.death.covers(month):
            return self.death
        for group in (self.stops, self.incarcerations):
            covering = [stop for stop in group if stop.covers(month)]
            if covering:
                return min(covering, key=lambda stop: (stop.on, stop.reason))
        return None

    def stops_by_month(self, first: int, last: int) -> dict[int, Stop]:
        """`stop_in` for every month from index ``first`` through ``last`` at once (the months
        without a stop left out): the same precedence, on `Month.index` instead of `Month`."""
        if self.quiet:
            return {}
        death = () if self.death is None else (self.death,)
        groups = [
            [(stop.last_paid.index, _index_or_none(stop.last_withheld), stop) for stop in group]
            for group in (death, self.stops, self.incarcerations)
        ]
        table: dict[int, Stop] = {}
        for month in range(first, last + 1):
            for group in groups:
                covering = [
                    stop
                    for paid, until, stop in group
                    if paid < month and (until is None or month <= until)
                ]
                if covering:
                    table[month] = min(covering, key=lambda stop: (stop.on, stop.reason))
                    break
        return table

    def suspicions_on(self, day: date) -> tuple[Span, ...]:
        if not self.suspicions:
            return ()
        return tuple(span for span in self.suspicions if span.holds(day))

    def resolved_in(self, month: Month, day: date) -> frozenset[str]:
        """Suspicions whose verification ended in ``month`` by ``day``."""
        return frozenset(
            span.key
            for span in self.suspicions
            if span.end is not None and month_of(span.end) == month and span.end <= day
        )

    def flagged(self, day: date) -> bool:
        if not self.imprisonment_flags:
            return False
        return any(span.holds(day) for span in self.imprisonment_flags)

    def moratorium_on(self, day: date) -> MoratoriumFact | None:
        if not self.moratoria:
            return None
        covering = [m for m in self.moratoria if m.starts_on <= day <= m.ends_on]
        return min(covering, key=lambda m: (m.starts_on, m.moratorium_id), default=None)

    def step_done(self, kind: ResumptionMode, since: date, day: date) -> bool:
        return any(s.kind == kind and since <= s.on <= day for s in self.steps)

    def earliest_month(self) -> Month | None:
        """The first month any finding can withhold."""
        months = [month_at(stop.last_paid.index + 1) for stop in self.every_stop]
        months += [month_of(span.start) for span in self.suspicions]
        return min(months, default=None)


_NOTHING = Findings()


def _index_or_none(month: Month | None) -> int | None:
    return None if month is None else month.index


def find(
    events: LifeEvents,
    benefit_id: str,
    benefit_type: BenefitType,
    agency_code: str,
    tz: ZoneInfo,
    known_at: datetime | None,
) -> Findings:
    """The findings for one benefit from what was recorded by ``known_at`` (None: everything).

    A report, case, step or moratorium recorded (opened, created) after ``known_at`` does not
    exist yet, and a resolution made after it has not happened.
    """
    if not (events.stops or events.cases or events.steps):
        if not events.moratoria:
            return _NOTHING
        return _only_moratoria(events.moratoria, benefit_type, agency_code, known_at)
    known = _Known(events, tz, known_at)
    deaths: list[Stop] = []
    stops: list[Stop] = []
    incarcerations: list[Stop] = []
    suspicions: list[Span] = []
    flags: list[Span] = []
    for report in known.reports:
        if report.reason == StopReason.RELEASE:
            continue
        if report.reason not in _EVERY_BENEFIT and report.benefit_id not in (None, benefit_id):
            continue
        if not ends(report.reason, benefit_type):  # e.g. started_pension never ends a pension
            continue
        verdicts = known.verdicts(report.event_id)
        # The first resolution ends the suspicion; the latest decides whether it stops.
        verified_on = known.day(_resolved_at(verdicts[0])) if verdicts else None
        refuted = bool(verdicts) and verdicts[-1].outcome == CaseOutcome.CONFIRMED_ELIGIBLE
        if report.suspected or refuted:
            suspicions.append(Span(report.event_id, known.day(report.recorded_at), verified_on))
        confirmed = _confirmed(report, verdicts[-1] if verdicts else None)
        if report.reason == StopReason.IMPRISONMENT:
            release = known.release_after(report.occurred_on if confirmed is None else confirmed.on)
            cleared = [] if release is None else [known.day(release.recorded_at)]
            if refuted and verified_on is not None:
                cleared.append(verified_on)
            recorded_on = known.day(report.recorded_at)
            flags.append(Span(report.event_id, recorded_on, min(cleared, default=None)))
            if confirmed is not None:
                until = None if release is None else Month.of(release.occurred_on)
                incarcerations.append(
                    Stop(Reason.INCARCERATED, confirmed.on, confirmed.known_at, until)
                )
        elif confirmed is not None:
            (deaths if report.reason == StopReason.DEATH else stops).append(confirmed)

    linked = {e.event_id for e in events.stops}
    for case in known.resolved:
        if case.stop_event_id in linked or case.benefit_id not in (None, benefit_id):
            continue
        if case.outcome == CaseOutcome.CONFIRMED_INELIGIBLE:
            stops.append(_agency_stop(case, known.steps, known.day))

    death = None
    if deaths:  # reported twice: the earliest day, known since the first report
        death = Stop(Reason.DECEASED, min(d.on for d in deaths), min(d.known_at for d in deaths))
    return Findings(
        death=death,
        stops=tuple(stops),
        incarcerations=tuple(incarcerations),
        suspicions=tuple(suspicions),
        imprisonment_flags=tuple(flags),
        steps=known.steps,
        moratoria=tuple(
            m
            for m in known.moratoria
            if agency_code.startswith(m.agency_prefix) and benefit_type in m.benefit_types
        ),
    )


def _only_moratoria(
    moratoria: tuple[MoratoriumFact, ...],
    benefit_type: BenefitType,
    agency_code: str,
    known_at: datetime | None,
) -> Findings:
    """`find` when the events are moratoria alone: only those that apply, as `_Known` checks."""
    applying = []
    for moratorium in moratoria:
        created = moratorium.created_at
        if created.utcoffset() is None:
            raise ValueError(
                f"moratorium {moratorium.moratorium_id}: a naive datetime; give it a time zone"
            )
        if (
            (known_at is None or created <= known_at)
            and agency_code.startswith(moratorium.agency_prefix)
            and benefit_type in moratorium.benefit_types
        ):
            applying.append(moratorium)
    return Findings(moratoria=tuple(applying)) if applying else _NOTHING


class _Known:
    """The events recorded by ``known_at``, each checked to be timezone-aware."""

    def __init__(self, events: LifeEvents, tz: ZoneInfo, known_at: datetime | None) -> None:
        self.tz = tz
        self.known_at = known_at
        self.reports = sorted(
            (e for e in events.stops if self.known(e.recorded_at, f"stop {e.event_id}")),
            key=lambda e: e.event_id,
        )
        opened = [c for c in events.cases if self.known(c.opened_at, f"case {c.case_id}")]
        self.resolved = sorted(
            (
                c
                for c in opened
                if c.outcome is not None
                and c.resolved_at is not None
                and self.known(c.resolved_at, f"case {c.case_id}")
            ),
            key=lambda c: (_resolved_at(c), c.case_id),
        )
        self.steps = tuple(s for s in events.steps if self.known(s.recorded_at, "step"))
        self.moratoria = tuple(
            m for m in events.moratoria if self.known(m.created_at, f"moratorium {m.moratorium_id}")
        )
        self.releases = [
            e for e in self.reports if e.reason == StopReason.RELEASE and e.has_documents
        ]

    def known(self, instant: datetime, what: str) -> bool:
        if instant.utcoffset() is None:
            raise ValueError(f"{what}: a naive datetime; give it a time zone")
        return self.known_at is None or instant <= self.known_at

    def day(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def verdicts(self, event_id: str) -> list[CaseFact]:
        """Resolved cases on a report, oldest resolution first."""
        return [c for c in self.resolved if c.stop_event_id == event_id]

    def release_after(self, since: date) -> StopEventFact | None:
        """The first documented release on or after ``since``."""
        later = [r for r in self.releases if r.occurred_on >= since]
        return min(later, key=lambda r: (r.occurred_on, r.recorded_at), default=None)


def _confirmed(report: StopEventFact, final: CaseFact | None) -> Stop | None:
    """The stop a report proves: unverified and unresolved, none (never stop on suspicion)."""
    if final is not None and final.outcome == CaseOutcome.CONFIRMED_INELIGIBLE:
        known_since = _resolved_at(final) if report.suspected else report.recorded_at
        return Stop(
            stop_reason(report.reason), final.effective_on or report.occurred_on, known_since
        )
    if final is None and not report.suspected:
        return Stop(stop_reason(report.reason), report.occurred_on, report.recorded_at)
    return None


def _agency_stop(case: CaseFact, steps: tuple[ResumptionStepFact, ...], day: Day) -> Stop:
    """核实停发: stopped after the effective month until a continuation step recorded after
    the resolution (续发程序); certifications made before the resolution no longer count."""
    resolved_at = _resolved_at(case)
    resolved_on = day(resolved_at)
    later = [
        s
        for s in steps
        if s.kind == ResumptionMode.CONTINUATION_PROCEDURE and s.recorded_at > resolved_at
    ]
    lift = min(later, key=lambda s: (s.on, s.recorded_at), default=None)
    return Stop(
        Reason.STOPPED,
        case.effective_on or resolved_on,
        resolved_at,
        last_withheld=None if lift is None else Month.of(lift.on) - 1,
        resolved_on=resolved_on,
    )


def _resolved_at(case: CaseFact) -> datetime:
    if case.resolved_at is None:
        raise ValueError(f"case {case.case_id} is not resolved")
    return case.resolved_at
