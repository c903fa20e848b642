"""How many eligibility decisions per second the pure engine makes, shortcut against full walk.

    python -m bench.engine_speed [--count 20000] [--seed 7] [--repeat 3]

Builds a realistic payment-run mix in memory (no database): Shanxi and Hunan benefits weighted
like a county, decided as known at the run's instant, with

- 70 % certified within their cycle (and on time before that),
- 15 % overdue (validity ran out months or years ago),
- 10 % never certified (a few of them not yet approved),
-  5 % with life events: stop reports, suspicions and their cases, steps, a moratorium,
-  5 % whose emergency contacts or funeral-subsidy flag changed (docs/policy.md §3.1), the
   rest of their facts as in the first two groups.

Then checks that `evaluate_eligibility` (with its shortcut) and `evaluate_full` (every month
walked, the baseline) agree on every call, times both on the same calls in turns (CPU time of
this process, best of ``--repeat``, so other work on the machine disturbs it less) and prints
both rates and the ratio, overall and per group, and how many calls the shortcut answered.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

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
from app.domain.enums import BenefitType, Channel, Residence, ResumptionMode
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
from app.domain.months import Month
from app.domain.policy import Policy, load_policies

COUNTIES = {
    "14": ["140105", "140106", "140109", "140402", "140403", "140404", "140405", "140602"],
    "43": ["430102", "430103", "430104", "430111", "430202", "430203", "430302", "430304"],
}
BENEFIT_WEIGHTS = {
    BenefitType.ENTERPRISE_PENSION: 40,
    BenefitType.INSTITUTION_PENSION: 10,
    BenefitType.RESIDENT_PENSION: 25,
    BenefitType.WORK_INJURY_DISABILITY: 6,
    BenefitType.WORK_INJURY_NURSING: 3,
    BenefitType.WORK_INJURY_DEPENDENT: 6,
    BenefitType.UNEMPLOYMENT: 6,
    BenefitType.ILLNESS_DISABILITY_ALLOWANCE: 4,
}
GROUPS = {"current": 65, "overdue": 15, "never": 10, "events": 5, "registry": 5}
CHANNELS = [Channel.FACE] * 7 + [Channel.MANUAL, Channel.GRASSROOTS_TERMINAL, Channel.HOME_VISIT]
# Monthly payment runs after enforcement started in both provinces (2026-05-01, 2026-06-01).
RUN_DAYS = [date(2026, 9, 8), date(2026, 12, 8), date(2027, 3, 8), date(2027, 6, 8)]


@dataclass(frozen=True, slots=True)
class Call:
    group: str
    benefit: BenefitFacts
    recipient: RecipientFacts
    certifications: tuple[CertificationFact, ...]
    policy: Policy
    on: date
    known_at: datetime
    events: LifeEvents


Engine = Callable[..., Eligibility]


def realistic_mix(count: int, seed: int) -> list[Call]:
    rng = random.Random(seed)
    book = load_policies()
    policies = {"14": book.get("shanxi-2026"), "43": book.get("hunan-2026")}
    groups = rng.choices(list(GROUPS), weights=list(GROUPS.values()), k=count)
    return [_call(rng, policies, group, index) for index, group in enumerate(groups)]


def _call(rng: random.Random, policies: dict[str, Policy], group: str, index: int) -> Call:
    province = rng.choice(["14", "43"])
    policy = policies[province]
    on = rng.choice(RUN_DAYS)
    known_at = datetime.combine(on, clock(1), UTC)
    benefit_type = rng.choices(list(BENEFIT_WEIGHTS), weights=list(BENEFIT_WEIGHTS.values()))[0]
    benefit = BenefitFacts(
        benefit_id=f"b{index}",
        benefit_type=benefit_type,
        agency_code=rng.choice(COUNTIES[province]),
        start_date=date(rng.randint(2000, 2025), rng.randint(1, 12), 1),
        approved=not (group == "never" and rng.random() < 0.05),
        funeral_subsidy_area=rng.choice([None, True, False]),
    )
    recipient = RecipientFacts(Residence.IN_PROVINCE, rng.choice([0, 1, 2, 2, 2]))
    cycle = policy.cycle_months(
        benefit_type, recipient.emergency_contacts, benefit.funeral_subsidy_area
    )
    months = cycle or 12
    here = Month.of(on)
    events = NO_EVENTS
    if group == "never":
        certs = [_failed(rng, on)] if rng.random() < 0.2 else []
    else:
        overdue = group == "overdue" or (group in ("events", "registry") and rng.random() < 0.3)
        behind = rng.randint(months, months + 30) if overdue else rng.randint(0, months - 1)
        certs = _history(rng, here - behind, on, months)
        if group == "events":
            events = _events(rng, benefit, on, province)
        elif group == "registry":
            events = _registry(rng, benefit, recipient, on)
    return Call(group, benefit, recipient, tuple(certs), policy, on, known_at, events)


def _history(rng: random.Random, newest: Month, on: date, cycle: int) -> list[CertificationFact]:
    """The newest certification in ``newest`` and up to four before it, each within its cycle."""
    certs = []
    month = newest
    for n in range(rng.randint(1, 5)):
        last = min(month.last_day, on - timedelta(days=1)) if n == 0 else month.last_day
        day = month.first_day + timedelta(days=rng.randint(0, (last - month.first_day).days))
        certs.append(_certification(rng, day, counted=True))
        if rng.random() < 0.05:
            certs.append(_failed(rng, day))
        month = month - rng.randint(max(1, cycle - 2), cycle)
    rng.shuffle(certs)
    return certs


def _certification(rng: random.Random, day: date, *, counted: bool) -> CertificationFact:
    occurred = datetime.combine(day, clock(rng.randint(0, 23), rng.randint(0, 59)), UTC)
    return CertificationFact(
        certification_id=f"c{rng.getrandbits(48):x}",
        channel=rng.choice(CHANNELS),
        occurred_at=occurred,
        recorded_at=occurred + timedelta(seconds=rng.randint(1, 3600)),
        counted=counted,
    )


def _failed(rng: random.Random, on: date) -> CertificationFact:
    return _certification(rng, on - timedelta(days=rng.randint(1, 400)), counted=False)


def _events(rng: random.Random, benefit: BenefitFacts, on: date, province: str) -> LifeEvents:
    """One of the things that happen to a recipient, recorded before the run."""

    def instant(days_ago: int) -> datetime:
        return datetime.combine(on - timedelta(days=days_ago), clock(2), UTC)

    occurred = on - timedelta(days=rng.randint(20, 300))
    recorded = rng.randint(1, (on - occurred).days)
    kind = rng.choice(["death", "suspicion", "refuted", "stop", "prison", "moratorium", "step"])
    if kind == "moratorium":
        starts = on - timedelta(days=rng.randint(0, 90))
        return LifeEvents(
            moratoria=(
                MoratoriumFact(
                    moratorium_id="m1",
                    agency_prefix=province,
                    benefit_types=frozenset(BenefitType),
                    starts_on=starts,
                    ends_on=starts + timedelta(days=60),
                    created_at=instant(100),
                ),
            )
        )
    if kind == "step":
        step = ResumptionStepFact(
            ResumptionMode.COMMITMENT_REQUIRED, on - timedelta(days=10), instant(9)
        )
        return LifeEvents(steps=(step,))
    reason = {
        "death": StopReason.DEATH,
        "prison": StopReason.IMPRISONMENT,
        "stop": StopReason.RE_EMPLOYMENT,
    }.get(kind, rng.choice([StopReason.DEATH, StopReason.RE_EMPLOYMENT]))
    report = StopEventFact(
        event_id="e1",
        reason=reason,
        benefit_id=None
        if reason in (StopReason.DEATH, StopReason.IMPRISONMENT)
        else benefit.benefit_id,
        occurred_on=occurred,
        recorded_at=instant(recorded),
        suspected=kind in ("suspicion", "refuted"),
        has_documents=False,
    )
    cases: tuple[CaseFact, ...] = ()
    if kind == "refuted":
        cases = (
            CaseFact(
                case_id="k1",
                benefit_id=None,
                stop_event_id="e1",
                opened_at=instant(recorded),
                outcome=CaseOutcome.CONFIRMED_ELIGIBLE,
                resolved_at=instant(max(0, recorded - 20)),
            ),
        )
    return LifeEvents(stops=(report,), cases=cases)


def _registry(
    rng: random.Random, benefit: BenefitFacts, recipient: RecipientFacts, on: date
) -> LifeEvents:
    """The registration's values, then a change of contacts or of the flag within the last
    two years (valid and recorded the same day, as the API records it)."""
    registered = datetime.combine(on - timedelta(days=2000), clock(2), UTC)
    changed = datetime.combine(on - timedelta(days=rng.randint(1, 700)), clock(3), UTC)
    if rng.random() < 0.5:
        before: int | bool | None = rng.choice([0, 1, 2])
        rows = (
            RegistryFact(None, before, registered, registered),
            RegistryFact(None, recipient.emergency_contacts, changed, changed),
        )
    else:
        before = rng.choice([None, True, False])
        rows = (
            RegistryFact(benefit.benefit_id, before, registered, registered),
            RegistryFact(benefit.benefit_id, benefit.funeral_subsidy_area, changed, changed),
        )
    return LifeEvents(registry=rows)


def answered_by_shortcut(c: Call) -> bool:
    setup, certs, findings, history = prepare(
        c.benefit, c.recipient, c.certifications, c.policy, c.on, c.known_at, c.events
    )
    counted = counted_by_month(certs, setup, c.on, c.known_at, findings)
    ends = cycle_ends(setup, counted, history, c.known_at)
    return shortcut_answer(setup, c.benefit, counted, ends, findings, c.on) is not None


def seconds(evaluate: Engine, calls: Sequence[Call]) -> float:
    began = time.process_time()
    for c in calls:
        evaluate(
            c.benefit, c.recipient, c.certifications, c.policy, c.on, c.known_at, events=c.events
        )
    return time.process_time() - began


def rates(calls: Sequence[Call], repeat: int) -> tuple[float, float]:
    """Evaluations per second of the full walk and of the shortcut: the best of ``repeat``
    passes each, taken in turns so that a busy machine slows both alike."""
    full = fast = float("inf")
    for _ in range(repeat):
        full = min(full, seconds(evaluate_full, calls))
        fast = min(fast, seconds(evaluate_eligibility, calls))
    return len(calls) / full, len(calls) / fast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    calls = realistic_mix(args.count, args.seed)
    for c in calls:
        fast = evaluate_eligibility(
            c.benefit, c.recipient, c.certifications, c.policy, c.on, c.known_at, events=c.events
        )
        full = evaluate_full(
            c.benefit, c.recipient, c.certifications, c.policy, c.on, c.known_at, events=c.events
        )
        if fast != full:
            raise SystemExit(f"the paths disagree on {c}:\n  fast {fast}\n  full {full}")
    print(f"{len(calls)} evaluations, the two paths agree on every one; best of {args.repeat}")
    print(
        f"{'mix':<10}{'count':>7}{'full /s':>11}{'fast /s':>11}{'full µs':>9}{'fast µs':>9}"
        f"{'×':>7}{'shortcut':>10}"
    )
    for group in ["all", *GROUPS]:
        chosen = calls if group == "all" else [c for c in calls if c.group == group]
        full_rate, fast_rate = rates(chosen, args.repeat)
        shortcut = sum(answered_by_shortcut(c) for c in chosen) / len(chosen)
        print(
            f"{group:<10}{len(chosen):>7}{full_rate:>11,.0f}{fast_rate:>11,.0f}"
            f"{1e6 / full_rate:>9.1f}{1e6 / fast_rate:>9.1f}{fast_rate / full_rate:>7.1f}"
            f"{shortcut:>10.0%}"
        )


if __name__ == "__main__":
    main()
