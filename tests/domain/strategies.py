"""Hypothesis strategies for life events near a day asked about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from hypothesis import strategies as st

from app.domain.eligibility import (
    BenefitFacts,
    CertificationFact,
    Eligibility,
    RecipientFacts,
    evaluate_eligibility,
)
from app.domain.enums import BenefitType, Channel, Residence, ResumptionMode
from app.domain.events import (
    NO_EVENTS,
    CaseFact,
    CaseOutcome,
    LifeEvents,
    MoratoriumFact,
    ResumptionStepFact,
    StopEventFact,
    StopReason,
)
from app.domain.policy import Policy
from tests.domain.timeline import AGENCY, HUNAN, SHANXI

BEIJING = timezone(timedelta(hours=8))
ZONES = st.sampled_from([UTC, BEIJING, timezone(timedelta(hours=-5))])
STEP_KINDS = [mode for mode in ResumptionMode if mode is not ResumptionMode.AUTOMATIC]
# Reasons that come from reports and cases; no certification changes them.
EVENT_REASONS = {
    "deceased",
    "re_employment",
    "started_pension",
    "enlisted",
    "emigrated",
    "dependent_no_longer_eligible",
    "stopped",
    "incarcerated",
    "verification_required",
}


def _after(draw: st.DrawFn, instant: datetime, max_days: int) -> datetime:
    return instant + draw(st.timedeltas(timedelta(0), timedelta(days=max_days)))


def _morning(day: date) -> datetime:
    return datetime.combine(day, time(9), BEIJING)


@st.composite
def stop_events(draw: st.DrawFn, on: date, benefit_id: str, index: int) -> StopEventFact:
    occurred = draw(st.dates(on - timedelta(days=600), on + timedelta(days=30)))
    recorded = _after(draw, _morning(occurred), 200).astimezone(draw(ZONES))
    return StopEventFact(
        event_id=f"e{index}",
        reason=draw(st.sampled_from(StopReason)),
        benefit_id=draw(st.sampled_from([None, None, benefit_id, "another"])),
        occurred_on=occurred,
        recorded_at=recorded,
        suspected=draw(st.booleans()),
        has_documents=draw(st.booleans()),
    )


@st.composite
def case_facts(
    draw: st.DrawFn, on: date, benefit_id: str, stops: list[StopEventFact], index: int
) -> CaseFact:
    linked = draw(st.sampled_from([None, *stops]))
    since = linked.recorded_at if linked is not None else _morning(on - timedelta(days=400))
    opened = _after(draw, since, 120)
    resolved = draw(st.none() | st.just(_after(draw, opened, 150)))
    return CaseFact(
        case_id=f"k{index}",
        benefit_id=draw(st.sampled_from([None, benefit_id])),
        stop_event_id=None if linked is None else linked.event_id,
        opened_at=opened,
        outcome=None if resolved is None else draw(st.sampled_from(CaseOutcome)),
        effective_on=draw(st.none() | st.dates(on - timedelta(days=500), on)),
        resolved_at=resolved,
    )


@st.composite
def steps(draw: st.DrawFn, on: date) -> ResumptionStepFact:
    day = draw(st.dates(on - timedelta(days=500), on + timedelta(days=10)))
    return ResumptionStepFact(
        kind=draw(st.sampled_from(STEP_KINDS)),
        on=day,
        recorded_at=_after(draw, _morning(day), 30),
    )


@st.composite
def moratoria(draw: st.DrawFn, on: date, index: int) -> MoratoriumFact:
    starts = draw(st.dates(on - timedelta(days=400), on + timedelta(days=10)))
    return MoratoriumFact(
        moratorium_id=f"m{index}",
        agency_prefix=draw(st.sampled_from(["14", "43", "1404", "4301", "1405"])),
        benefit_types=frozenset(draw(st.sets(st.sampled_from(BenefitType), min_size=1))),
        starts_on=starts,
        ends_on=starts + draw(st.timedeltas(timedelta(0), timedelta(days=120))),
        created_at=_morning(starts - timedelta(days=draw(st.integers(-30, 30)))),
    )


@st.composite
def life_events(
    draw: st.DrawFn, on: date, benefit_id: str, *, with_steps: bool = True
) -> LifeEvents:
    """Often nothing; otherwise a few reports, cases on them or on their own, steps, moratoria."""
    if draw(st.booleans()):
        return NO_EVENTS
    stops = [draw(stop_events(on, benefit_id, i)) for i in range(draw(st.integers(0, 3)))]
    return LifeEvents(
        stops=tuple(stops),
        cases=tuple(
            draw(case_facts(on, benefit_id, stops, i)) for i in range(draw(st.integers(0, 3)))
        ),
        steps=tuple(draw(steps(on)) for _ in range(draw(st.integers(0, 2 * with_steps)))),
        moratoria=tuple(draw(moratoria(on, i)) for i in range(draw(st.integers(0, 2)))),
    )


@st.composite
def shuffled(draw: st.DrawFn, events: LifeEvents) -> LifeEvents:
    return LifeEvents(
        stops=tuple(draw(st.permutations(events.stops))),
        cases=tuple(draw(st.permutations(events.cases))),
        steps=tuple(draw(st.permutations(events.steps))),
        moratoria=tuple(draw(st.permutations(events.moratoria))),
    )


# --- a benefit, a day and its facts ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    benefit: BenefitFacts
    recipient: RecipientFacts
    policy: Policy
    on: date
    known_at: datetime | None
    events: LifeEvents = NO_EVENTS

    def evaluate(
        self, certs: list[CertificationFact], events: LifeEvents | None = None
    ) -> Eligibility:
        return evaluate_eligibility(
            self.benefit,
            self.recipient,
            certs,
            self.policy,
            self.on,
            self.known_at,
            events=self.events if events is None else events,
        )


def around(on: date, days_before: int, days_after: int) -> st.SearchStrategy[datetime]:
    """Aware instants near ``on``, where certifications decide the most."""
    noon = datetime.combine(on, time(12))
    return st.datetimes(
        noon - timedelta(days=days_before), noon + timedelta(days=days_after), timezones=ZONES
    )


def certifications(on: date, certification_id: str) -> st.SearchStrategy[CertificationFact]:
    @st.composite
    def build(draw: st.DrawFn) -> CertificationFact:
        occurred = draw(around(on, 800, 60))
        recorded = occurred + draw(st.timedeltas(timedelta(0), timedelta(days=120)))
        revoked = recorded + draw(st.timedeltas(timedelta(0), timedelta(days=90)))
        return CertificationFact(
            certification_id=certification_id,
            channel=draw(st.sampled_from(Channel)),
            occurred_at=occurred,
            recorded_at=recorded,
            # Mostly counted and unrevoked, so that most examples have some validity.
            counted=draw(st.sampled_from([True, True, True, False])),
            revoked_at=draw(st.sampled_from([None, None, None, revoked])),
        )

    return build()


@st.composite
def cases(draw: st.DrawFn, *, with_steps: bool = False) -> Case:
    policy = draw(st.sampled_from([SHANXI, HUNAN]))
    on = draw(st.dates(date(2025, 10, 1), date(2027, 12, 31)))
    facts = BenefitFacts(
        benefit_id="b",
        benefit_type=draw(st.sampled_from(BenefitType)),
        agency_code=AGENCY[policy.province],
        start_date=draw(st.dates(date(2018, 1, 1), on)),
        approved=draw(st.sampled_from([True, True, True, False])),
        funeral_subsidy_area=draw(st.none() | st.booleans()),
    )
    people = RecipientFacts(Residence.IN_PROVINCE, draw(st.integers(0, 3)))
    known_at = draw(st.none() | around(on, 30, 30))
    events = draw(life_events(on, facts.benefit_id, with_steps=with_steps))
    return Case(facts, people, policy, on, known_at, events)


@st.composite
def cases_with_certifications(
    draw: st.DrawFn, *, with_steps: bool = False
) -> tuple[Case, list[CertificationFact]]:
    case = draw(cases(with_steps=with_steps))
    count = draw(st.integers(0, 5))
    return case, [draw(certifications(case.on, f"c{i}")) for i in range(count)]
