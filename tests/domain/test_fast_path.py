"""The shortcut in `evaluate_eligibility` answers exactly as the full walk of the months.

`evaluate_eligibility` first tries `shortcut` (no month walk) and falls back to `walk`;
`evaluate_full` always walks. Every test here compares the two (dataclass ==, or the same
ValueError) on generated and on hand-picked histories, and the hand-picked ones also pin which
of them the shortcut answers itself, so that it cannot quietly stop covering the common cases.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.eligibility import (
    BenefitFacts,
    CertificationFact,
    Eligibility,
    RecipientFacts,
    evaluate_eligibility,
    evaluate_full,
)
from app.domain.eligibility.setup import prepare
from app.domain.eligibility.shortcut import shortcut as shortcut_answer
from app.domain.eligibility.validity import counted_by_month, cycle_ends
from app.domain.enums import BenefitType, Channel, EligibilityStatus, Residence, ResumptionMode
from app.domain.events import (
    NO_EVENTS,
    CaseFact,
    CaseOutcome,
    LifeEvents,
    MoratoriumFact,
    RegistryFact,
    ResumptionStepFact,
    StopEventFact,
    StopReason,
)
from app.domain.findings import find
from app.domain.months import Month
from app.domain.policy import Policy
from tests.domain.strategies import ZONES, Case, cases_with_certifications, life_events
from tests.domain.timeline import (
    AGENCY,
    BEIJING,
    HUNAN,
    SHANXI,
    at,
    benefit,
    cert,
    events,
    months,
    moratorium,
    report,
    step,
)

B = BenefitType
S = EligibilityStatus
R = ResumptionMode


@dataclass(frozen=True)
class Question:
    benefit: BenefitFacts
    recipient: RecipientFacts
    certifications: tuple[CertificationFact, ...]
    policy: Policy
    on: date
    known_at: datetime | None = None
    events: LifeEvents = NO_EVENTS


def answers(q: Question) -> tuple[Eligibility | str, Eligibility | str]:
    """(with the shortcut, full walk); a ValueError stands as "ValueError"."""
    both: list[Eligibility | str] = []
    for evaluate in (evaluate_eligibility, evaluate_full):
        try:
            both.append(
                evaluate(
                    q.benefit,
                    q.recipient,
                    q.certifications,
                    q.policy,
                    q.on,
                    q.known_at,
                    events=q.events,
                )
            )
        except ValueError:
            both.append("ValueError")
    return both[0], both[1]


def shortcut(q: Question) -> Eligibility | None:
    """What `shortcut` alone answers (None: it leaves the question to the full walk)."""
    setup, certs, findings, history = prepare(
        q.benefit, q.recipient, q.certifications, q.policy, q.on, q.known_at, q.events
    )
    counted = counted_by_month(certs, setup, q.on, q.known_at, findings)
    ends = cycle_ends(setup, counted, history, q.known_at)
    return shortcut_answer(setup, q.benefit, counted, ends, findings, q.on)


def assert_same(q: Question) -> Eligibility | str:
    fast, full = answers(q)
    assert fast == full, f"\n  shortcut {fast}\n  full     {full}"
    return full


# --- generated histories ----------------------------------------------------------------------

# Strategies are built once here, not inside the composites: building them per draw is what
# makes generation slow.

# Gaps between certifications: on time for 3-, 6- and 12-month cycles, a little late, and long
# enough to reach every Hunan tier (12 months suspended, 24 since, 60 suspended).
GAPS = st.one_of(
    st.sampled_from([1, 3, 6, 12]),
    st.integers(0, 15),
    st.integers(10, 40),
    st.integers(50, 75),
)
# Days asked about: any day, or the first or last day of a month (where validity and the
# first-certification windows turn).
DAYS = st.dates(date(2025, 10, 1), date(2032, 12, 31))
EDGES = st.sampled_from(["any", "any", "first", "last"])
POLICIES = st.sampled_from([SHANXI, HUNAN])
TYPES = st.sampled_from(list(BenefitType))
APPROVED = st.sampled_from([True, True, True, False])
FUNERAL = st.sampled_from([None, True, False])
CONTACTS = st.integers(0, 3)
STARTED_DAYS_BEFORE = st.integers(-400, 9600)  # the benefit's start, relative to ``on``
KNOWN_AT = st.none() | st.tuples(st.integers(-30, 30), ZONES)
BOOLEANS = st.booleans()
# Certifications
COUNT = st.integers(0, 6)
NEWEST_MONTHS_BACK = st.one_of(
    st.sampled_from([-1, 0, 0, 1]), st.integers(0, 14), st.integers(0, 90)
)
DAY_OF_MONTH = st.integers(1, 31)
HOUR = st.integers(0, 23)
RECORDED_AFTER = st.sampled_from([timedelta(minutes=1), timedelta(days=40)])
CHANNELS = st.sampled_from([Channel.FACE] * 5 + list(Channel))
ONE_IN_TEN = st.sampled_from([False] * 9 + [True])
ORDER = st.randoms(use_true_random=False)
# Events
UP_TO_TWO = st.integers(0, 2)
DAYS_BEFORE = st.integers(0, 400)
RECENT = st.integers(0, 30)
STEP_DAYS_BEFORE = st.integers(-5, 900)
STEP_KINDS = st.sampled_from([m for m in ResumptionMode if m is not R.AUTOMATIC])
OTHER_REASONS = st.sampled_from([StopReason.RE_EMPLOYMENT, StopReason.EMIGRATED])
PREFIXES = st.sampled_from(["14", "43", "1404", "4301", "1405"])
TYPE_SETS = st.sets(TYPES, min_size=1)
MORATORIUM_STARTS = st.integers(-30, 1500)
MORATORIUM_DAYS = st.integers(0, 120)
CREATED = st.integers(-30, 30)
CASE_BENEFITS = st.sampled_from(["another", "b"])
CASE_OUTCOMES = st.sampled_from([None, CaseOutcome.CONFIRMED_ELIGIBLE])


@st.composite
def days(draw: st.DrawFn) -> date:
    day = draw(DAYS)
    edge = draw(EDGES)
    if edge == "first":
        return day.replace(day=1)
    if edge == "last":
        return Month.of(day).last_day
    return day


@st.composite
def chain(draw: st.DrawFn, on: date) -> list[CertificationFact]:
    """Certifications month after month with gaps, the newest often in ``on``'s month or just
    before (a return after a lapse, a renewal); a few after ``on``, failed, revoked, through a
    channel Shanxi refuses, or recorded late."""
    certs: list[CertificationFact] = []
    month = Month.of(on) - draw(NEWEST_MONTHS_BACK)
    for i in range(draw(COUNT)):
        if month < Month(2015, 1):
            break
        day = date(month.year, month.month, min(draw(DAY_OF_MONTH), month.last_day.day))
        # Built in Beijing time, then shown in some zone: the month is Beijing's.
        occurred = datetime.combine(day, time(draw(HOUR)), BEIJING).astimezone(draw(ZONES))
        recorded = occurred + draw(RECORDED_AFTER)
        certs.append(
            CertificationFact(
                certification_id=f"c{i}",
                channel=draw(CHANNELS),
                occurred_at=occurred,
                recorded_at=recorded,
                counted=not draw(ONE_IN_TEN),
                revoked_at=recorded + timedelta(days=3) if draw(ONE_IN_TEN) else None,
            )
        )
        month = month - draw(GAPS)
    draw(ORDER).shuffle(certs)
    return certs


@st.composite
def harmless_events(draw: st.DrawFn, on: date) -> LifeEvents:
    """Events that never touch benefit "b" (another benefit's stop, a release, a case about
    another benefit or finding it eligible) and steps and moratoria, which matter only after a
    lapse, and only if they apply to the benefit."""
    stops = []
    if draw(BOOLEANS):
        stops.append(
            StopEventFact(
                event_id="e-other",
                reason=draw(OTHER_REASONS),
                benefit_id="another",
                occurred_on=on - timedelta(days=draw(DAYS_BEFORE)),
                recorded_at=at(on - timedelta(days=draw(RECENT))),
                suspected=draw(BOOLEANS),
                has_documents=False,
            )
        )
    if draw(BOOLEANS):
        stops.append(
            StopEventFact(
                event_id="e-release",
                reason=StopReason.RELEASE,
                benefit_id=None,
                occurred_on=on - timedelta(days=draw(DAYS_BEFORE)),
                recorded_at=at(on - timedelta(days=draw(RECENT))),
                suspected=False,
                has_documents=draw(BOOLEANS),
            )
        )
    cases = []
    if draw(BOOLEANS):
        cases.append(
            CaseFact(
                case_id="k1",
                benefit_id=draw(CASE_BENEFITS),
                stop_event_id=None,
                opened_at=at(on - timedelta(days=60)),
                outcome=draw(CASE_OUTCOMES),
                resolved_at=at(on - timedelta(days=20)),
            )
        )
    steps = [
        ResumptionStepFact(
            kind=draw(STEP_KINDS),
            on=on - timedelta(days=draw(STEP_DAYS_BEFORE)),
            recorded_at=at(on - timedelta(days=draw(RECENT))),
        )
        for _ in range(draw(UP_TO_TWO))
    ]
    moratoria = []
    for i in range(draw(UP_TO_TWO)):
        starts = on - timedelta(days=draw(MORATORIUM_STARTS))
        moratoria.append(
            MoratoriumFact(
                moratorium_id=f"m{i}",
                agency_prefix=draw(PREFIXES),
                benefit_types=frozenset(draw(TYPE_SETS)),
                starts_on=starts,
                ends_on=starts + timedelta(days=draw(MORATORIUM_DAYS)),
                created_at=at(starts - timedelta(days=draw(CREATED))),
            )
        )
    return LifeEvents(
        stops=tuple(stops), cases=tuple(cases), steps=tuple(steps), moratoria=tuple(moratoria)
    )


@st.composite
def registry_history(draw: st.DrawFn, on: date) -> tuple[RegistryFact, ...]:
    """Emergency contacts and the funeral flag changed (or not) around ``on``: each value
    valid from some day, recorded then or later (docs/policy.md §3)."""
    rows = []
    for benefit_id, values in ((None, CONTACTS), ("b", FUNERAL)):
        for _ in range(draw(st.integers(0, 3))):
            valid = at(on - timedelta(days=draw(st.integers(-60, 700))))
            late = timedelta(days=draw(st.sampled_from([0, 0, 1, 40])))
            rows.append(RegistryFact(benefit_id, draw(values), valid, valid + late))
    return tuple(rows)


@st.composite
def questions(draw: st.DrawFn, *, quiet: bool) -> Question:
    policy = draw(POLICIES)
    on = draw(days())
    facts = BenefitFacts(
        benefit_id="b",
        benefit_type=draw(TYPES),
        agency_code=AGENCY[policy.province],
        start_date=max(date(2000, 1, 1), on - timedelta(days=draw(STARTED_DAYS_BEFORE))),
        approved=draw(APPROVED),
        funeral_subsidy_area=draw(FUNERAL),
    )
    recipient = RecipientFacts(Residence.IN_PROVINCE, draw(CONTACTS))
    known = draw(KNOWN_AT)
    known_at = None if known is None else (at(on) + timedelta(days=known[0])).astimezone(known[1])
    if quiet:
        life = draw(harmless_events(on)) if draw(BOOLEANS) else NO_EVENTS
    else:
        life = draw(life_events(on, facts.benefit_id))
    if draw(BOOLEANS):
        life = replace(life, registry=draw(registry_history(on)))
    certs = tuple(draw(chain(on)))
    return Question(facts, recipient, certs, policy, on, known_at, life)


@settings(max_examples=1000, deadline=None)
@given(questions(quiet=True))
def test_shortcut_equals_the_full_walk_without_events_that_touch_the_benefit(
    q: Question,
) -> None:
    assert_same(q)


@settings(max_examples=400, deadline=None)
@given(questions(quiet=False))
def test_shortcut_equals_the_full_walk_with_any_events(q: Question) -> None:
    assert_same(q)


@settings(max_examples=300, deadline=None)
@given(cases_with_certifications(with_steps=True))
def test_shortcut_equals_the_full_walk_on_the_shared_scenarios(
    scenario: tuple[Case, list[CertificationFact]],
) -> None:
    case, certs = scenario
    q = Question(
        case.benefit, case.recipient, tuple(certs), case.policy, case.on, case.known_at, case.events
    )
    assert_same(q)


@settings(max_examples=200, deadline=None)
@given(questions(quiet=True), questions(quiet=True))
def test_an_answer_does_not_depend_on_the_questions_asked_before(
    q: Question, other: Question
) -> None:
    # The memos (per policy and benefit type, per month, per tier) must not leak between
    # questions: q asked again after another question gets the answer it got before.
    first = answers(q)
    answers(other)
    assert answers(q) == first
    assert first[0] == first[1]


# --- the branches and their edges, by hand ----------------------------------------------------

SHANXI_PENSION = benefit(B.ENTERPRISE_PENSION, SHANXI)
SHANXI_DEPENDENT = benefit(B.WORK_INJURY_DEPENDENT, SHANXI)  # 1 contact: 6-month cycle
HUNAN_PENSION = benefit(B.ENTERPRISE_PENSION, HUNAN)
HUNAN_INSTITUTION = benefit(B.INSTITUTION_PENSION, HUNAN)
HUNAN_UNEMPLOYMENT = benefit(B.UNEMPLOYMENT, HUNAN)


def ask(
    facts: BenefitFacts,
    on: str,
    certs: list[CertificationFact] | tuple[CertificationFact, ...] = (),
    life: LifeEvents = NO_EVENTS,
    *,
    contacts: int = 2,
    known_at: datetime | None = None,
) -> Question:
    policy = SHANXI if facts.agency_code.startswith("14") else HUNAN
    return Question(
        facts,
        RecipientFacts(Residence.IN_PROVINCE, contacts),
        tuple(certs),
        policy,
        date.fromisoformat(on),
        known_at,
        life,
    )


MARCH = cert("2026-03-15")  # Shanxi 6-month cycle: valid through 2026-08-31
HUNAN_MAY = cert("2026-05-10")  # Hunan 12-month cycle: valid through 2027-04-30
SHANXI_OLD = cert("2025-03-10")  # Shanxi 12-month cycle: valid through 2026-02-28
DEATH = report(StopReason.DEATH, "2026-06-20", "2026-08-05")
ELSEWHERE = moratorium("43", {B.ENTERPRISE_PENSION}, "2026-05-01", "2026-12-31")
HERE = moratorium("14", {B.ENTERPRISE_PENSION}, "2026-06-01", "2026-07-31")

# name: (question, whether the shortcut answers it itself, (status, reason) expected)
EXAMPLES: dict[str, tuple[Question, bool, tuple[S, str]]] = {
    # (a) certified, validity covering on
    "certified": (ask(SHANXI_PENSION, "2026-06-10", [MARCH]), True, (S.ELIGIBLE, "certified")),
    "validity ends on the month's last day": (
        ask(SHANXI_DEPENDENT, "2026-08-31", [MARCH], contacts=1),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    "the day after validity": (
        ask(SHANXI_DEPENDENT, "2026-09-01", [MARCH], contacts=1),
        True,
        (S.SUSPENDED, "overdue"),
    ),
    "renewed on time": (
        ask(SHANXI_DEPENDENT, "2026-10-10", [MARCH, cert("2026-08-20")], contacts=1),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    # (b) Hunan unemployment
    "not required": (ask(HUNAN_UNEMPLOYMENT, "2027-03-01"), True, (S.NOT_REQUIRED, "not_required")),
    "not required, unapproved": (
        ask(replace(HUNAN_UNEMPLOYMENT, approved=False), "2027-03-01", [HUNAN_MAY]),
        True,
        (S.NOT_REQUIRED, "not_required"),
    ),
    # (c) never certified: the window, its deadline day and the enforcement day
    "window": (ask(SHANXI_PENSION, "2026-02-10"), True, (S.ELIGIBLE, "first_certification_window")),
    "Shanxi deadline day": (
        ask(SHANXI_PENSION, "2026-04-30"),
        True,
        (S.ELIGIBLE, "first_certification_window"),
    ),
    "Shanxi enforcement day": (
        ask(SHANXI_PENSION, "2026-05-01"),
        True,
        (S.SUSPENDED, "never_certified"),
    ),
    "Hunan deadline day": (
        ask(HUNAN_PENSION, "2026-05-31"),
        True,
        (S.ELIGIBLE, "first_certification_window"),
    ),
    "Hunan enforcement day": (
        ask(HUNAN_PENSION, "2026-06-01"),
        True,
        (S.SUSPENDED, "never_certified"),
    ),
    "expired before enforcement": (
        ask(SHANXI_PENSION, "2026-04-30", [SHANXI_OLD]),
        True,
        (S.ELIGIBLE, "enforcement_not_started"),
    ),
    "expired, from enforcement": (
        ask(SHANXI_PENSION, "2026-05-01", [SHANXI_OLD]),
        True,
        (S.SUSPENDED, "overdue"),
    ),
    # (d) unapproved without a certification
    "awaiting": (
        ask(replace(SHANXI_PENSION, approved=False), "2026-09-01"),
        True,
        (S.AWAITING_FIRST_CERTIFICATION, "not_certified_yet"),
    ),
    "unapproved, certified this month": (
        ask(replace(SHANXI_PENSION, approved=False), "2026-09-20", [cert("2026-09-10")]),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    # the month a suspension ends: back pay, resumed_after_months
    "Shanxi certified in on's month after a lapse": (
        ask(SHANXI_PENSION, "2026-09-20", [SHANXI_OLD, cert("2026-09-10")]),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    "Shanxi the month after": (
        ask(SHANXI_PENSION, "2026-10-05", [SHANXI_OLD, cert("2026-09-10")]),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    "Shanxi certified in on's month, before that day": (
        ask(SHANXI_PENSION, "2026-09-05", [SHANXI_OLD, cert("2026-09-10")]),
        True,
        (S.SUSPENDED, "overdue"),
    ),
    "Hunan back within a year": (
        ask(HUNAN_PENSION, "2027-11-20", [HUNAN_MAY, cert("2027-11-05")]),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    "Hunan suspended twelve months": (
        ask(HUNAN_PENSION, "2028-04-15", [HUNAN_MAY]),
        True,
        (S.SUSPENDED, "overdue"),
    ),
    # Hunan tiers with a step: left to the full walk
    "Hunan back after eighteen months": (
        ask(HUNAN_PENSION, "2028-11-20", [HUNAN_MAY, cert("2028-11-05")]),
        False,
        (S.SUSPENDED, "commitment_required"),
    ),
    "Hunan commitment made": (
        ask(
            HUNAN_PENSION,
            "2028-12-05",
            [HUNAN_MAY, cert("2028-11-05")],
            events(step(R.COMMITMENT_REQUIRED, "2028-12-01")),
        ),
        False,
        (S.ELIGIBLE, "certified"),
    ),
    "Hunan institution pension after thirteen months": (
        ask(HUNAN_INSTITUTION, "2028-06-20", [HUNAN_MAY, cert("2028-06-05")]),
        False,
        (S.SUSPENDED, "employer_verification"),
    ),
    "Hunan certified again long after a tier was met": (
        ask(HUNAN_PENSION, "2029-06-10", [HUNAN_MAY, cert("2027-11-05"), cert("2028-10-01")]),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    # events that cannot touch the benefit, and those that can
    "moratorium elsewhere": (
        ask(SHANXI_PENSION, "2026-06-10", [SHANXI_OLD], events(ELSEWHERE)),
        True,
        (S.SUSPENDED, "overdue"),
    ),
    "moratorium here, certified": (
        ask(SHANXI_PENSION, "2026-06-10", [MARCH], events(HERE)),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    "moratorium here, overdue": (
        ask(SHANXI_PENSION, "2026-06-10", [SHANXI_OLD], events(HERE)),
        False,
        (S.ELIGIBLE, "moratorium"),
    ),
    "moratorium over the lapse before a return": (
        ask(SHANXI_PENSION, "2026-09-10", [SHANXI_OLD, cert("2026-09-01")], events(HERE)),
        False,
        (S.ELIGIBLE, "certified"),
    ),
    "another benefit's stop": (
        ask(
            SHANXI_PENSION,
            "2026-06-10",
            [MARCH],
            events(report(StopReason.RE_EMPLOYMENT, "2026-04-01", "2026-04-10", benefit_id="b9")),
        ),
        True,
        (S.ELIGIBLE, "certified"),
    ),
    "death": (
        ask(SHANXI_DEPENDENT, "2026-09-10", [MARCH], events(DEATH)),
        False,
        (S.STOPPED, "deceased"),
    ),
    "suspicion": (
        ask(
            SHANXI_PENSION,
            "2026-06-10",
            [MARCH],
            events(report(StopReason.DEATH, "2026-05-01", "2026-05-20", suspected=True)),
        ),
        False,
        (S.SUSPENDED, "verification_required"),
    ),
    "imprisonment flag only": (
        ask(
            SHANXI_PENSION,
            "2026-06-10",
            [MARCH],
            events(report(StopReason.IMPRISONMENT, "2026-06-09", "2026-06-09", suspected=True)),
        ),
        False,
        (S.SUSPENDED, "verification_required"),
    ),
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_hand_picked_branches_and_edges(name: str) -> None:
    q, answered_by_shortcut, expected = EXAMPLES[name]
    result = assert_same(q)
    assert isinstance(result, Eligibility)
    assert (result.status, result.reason) == expected
    assert (shortcut(q) is not None) is answered_by_shortcut


def test_the_month_a_suspension_ends_pays_back_the_lapse() -> None:
    # Shanxi: valid through 2026-02, withheld from enforcement (2026-05), back 2026-09.
    q, _, _ = EXAMPLES["Shanxi certified in on's month after a lapse"]
    result = shortcut(q)
    assert result is not None
    assert result.back_pay_months == months("2026-05", "2026-08")
    assert result.resumed_after_months == 4
    after, _, _ = EXAMPLES["Shanxi the month after"]
    later = shortcut(after)
    assert later is not None
    assert (later.back_pay_months, later.resumed_after_months) == ((), None)


def test_hunan_return_within_a_year_pays_back_from_the_first_withheld_month() -> None:
    q, _, _ = EXAMPLES["Hunan back within a year"]
    result = shortcut(q)
    assert result is not None
    assert result.back_pay_months == months("2027-05", "2027-10")
    assert result.resumed_after_months == 6
    suspended, _, _ = EXAMPLES["Hunan suspended twelve months"]
    tier = shortcut(suspended)
    assert tier is not None
    assert tier.resumption is R.AUTOMATIC


def test_unapproved_benefit_gets_no_back_pay_but_counts_the_months() -> None:
    unapproved = replace(SHANXI_PENSION, approved=False)
    q = ask(unapproved, "2026-09-20", [SHANXI_OLD, cert("2026-09-10")])
    result = assert_same(q)
    assert isinstance(result, Eligibility)
    assert (result.back_pay_months, result.resumed_after_months) == ((), 4)
    assert shortcut(q) == result


def test_benefit_starting_after_the_day_asked_about() -> None:
    late = replace(SHANXI_PENSION, start_date=date(2027, 1, 1))
    for on in ("2026-04-30", "2026-05-01", "2026-12-31", "2027-01-01", "2027-02-10"):
        q = ask(late, on, [SHANXI_OLD])
        assert shortcut(q) is not None
        assert_same(q)


def test_known_at_hides_a_return_recorded_later() -> None:
    back = cert("2026-09-10", recorded=at("2026-09-25"))
    for known in (None, at("2026-09-24"), at("2026-09-26")):
        q = ask(SHANXI_PENSION, "2026-09-30", [SHANXI_OLD, back], known_at=known)
        assert shortcut(q) is not None
        assert_same(q)


def test_both_paths_refuse_the_same_bad_input() -> None:
    naive = replace(MARCH, occurred_at=MARCH.occurred_at.replace(tzinfo=None))
    assert answers(ask(SHANXI_PENSION, "2026-06-10", [naive])) == ("ValueError", "ValueError")
    naive_moratorium = replace(HERE, created_at=HERE.created_at.replace(tzinfo=None))
    q = ask(SHANXI_PENSION, "2026-06-10", [MARCH], events(naive_moratorium))
    assert answers(q) == ("ValueError", "ValueError")
    q = ask(SHANXI_PENSION, "2026-06-10", [MARCH], known_at=datetime(2026, 6, 10))
    assert answers(q) == ("ValueError", "ValueError")
    assert answers(replace(q, known_at=None, policy=HUNAN)) == ("ValueError", "ValueError")
    negative = replace(ask(SHANXI_PENSION, "2026-06-10", [MARCH]), recipient=RecipientFacts(
        Residence.IN_PROVINCE, -1))  # fmt: skip
    assert answers(negative) == ("ValueError", "ValueError")


def test_a_moratorium_created_after_known_at_is_left_out_by_both() -> None:
    later = replace(HERE, created_at=datetime(2026, 7, 1, tzinfo=UTC))
    for known in (at("2026-06-15"), at("2026-07-02"), None):
        q = ask(SHANXI_PENSION, "2026-07-10", [SHANXI_OLD], events(later), known_at=known)
        assert_same(q)


# --- the walk's own shortcuts -----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(questions(quiet=False))
def test_stops_by_month_agrees_with_stop_in(q: Question) -> None:
    # `simulate` takes each month's stop from `Findings.stops_by_month` (on month indexes).
    findings = find(
        q.events, "b", q.benefit.benefit_type, q.benefit.agency_code, q.policy.tz, q.known_at
    )
    first, last = Month.of(q.on).index - 30, Month.of(q.on).index + 6
    table = findings.stops_by_month(first, last)
    for index in range(first, last + 1):
        assert table.get(index) == findings.stop_in(Month.from_index(index)), index
