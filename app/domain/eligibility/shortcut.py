"""The shortcut: the answer read straight off the certifications' validity, for the benefits
that have nothing else (no stop, suspicion, flag, or a moratorium over a lapse that decides
anything). It gives up (None) on anything else, which the full walk (`walk`) then answers;
tests/domain/test_fast_path.py checks that both give equal answers."""

from __future__ import annotations

from datetime import date

from app.domain.eligibility.facts import BenefitFacts, CertificationFact, Eligibility
from app.domain.eligibility.setup import Setup
from app.domain.eligibility.validity import Ends, covered_until, newest_certification
from app.domain.enums import EligibilityStatus, ResumptionMode
from app.domain.events import MoratoriumFact
from app.domain.findings import Findings, month_at
from app.domain.months import Month
from app.domain.reasons import Reason
from app.domain.suspension import decide, last_day_at

S = EligibilityStatus


def shortcut(
    setup: Setup,
    benefit: BenefitFacts,
    counted: dict[int, CertificationFact],
    ends: Ends | None,
    findings: Findings,
    on: date,
) -> Eligibility | None:
    """The answer without walking the months, when only certifications decide; None otherwise.

    With nothing stopped, suspected or flagged, every month from the first one walked is one of:
    covered by a certification (paid), before enforcement (paid), waiting for the first
    certification of an unapproved benefit, or a lapse (withheld for lack of certification;
    its run starts after the last covered month). A certification after a lapse meets a tier;
    it must be automatic here (else a step may be missing: None). A moratorium matters only
    on a lapse's days, so one overlapping a lapse that decides anything sends it to the walk.
    """
    if not findings.quiet or findings.imprisonment_flags:
        return None
    policy_id = setup.policy.id
    last = newest_certification(counted)
    terms = setup.terms
    cycle = terms.cycle
    if cycle is None:  # certification not required: nothing withholds it
        return Eligibility(
            policy_id, S.NOT_REQUIRED, Reason.NOT_REQUIRED, True, None, None, None, last, None,
            (), (), None, False, None, None,
        )  # fmt: skip
    approved = terms.approved
    if not counted and not approved:
        return Eligibility(
            policy_id, S.AWAITING_FIRST_CERTIFICATION, Reason.NOT_CERTIFIED_YET, False, cycle,
            None, None, None, None, (), (), None, False, None, None,
        )  # fmt: skip

    month = on.year * 12 + on.month - 1
    started = benefit.start_date
    # The first month walked (`walk`): never before enforcement, nor after ``on``'s month.
    first = min(max(started.year * 12 + started.month - 1, setup.enforcement), month)
    made = sorted(counted)  # every one by ``on``'s month
    moratoria = findings.moratoria

    if not setup.always_automatic:
        previous: int | None = None
        for made_in in made:
            if made_in > first:
                lapse = _lapse_from(first, previous, cycle, ends, made_in, approved)
                if lapse is not None:
                    if moratoria and _overlaps(moratoria, lapse, last_day_at(made_in - 1)):
                        return None
                    since = None if previous is None else made_in - previous
                    if setup.lapse_mode(made_in - lapse, since) is not ResumptionMode.AUTOMATIC:
                        return None
            previous = made_in

    newest = made[-1] if made else None
    ended = covered_until(newest, cycle, ends)
    valid_through = None if ended is None else last_day_at(ended)
    decision = decide(on, valid_through, terms.window)
    next_due = valid_through or setup.deadline
    reported = cycle if ends is None else ends.newest_cycle  # the newest one's own cycle
    if decision.payable:
        back_pay: tuple[Month, ...] = ()
        resumed = None
        if newest == month and month > first:  # certified this month: after a lapse?
            previous = made[-2] if len(made) > 1 else None
            lapse = _lapse_from(first, previous, cycle, ends, month, approved)
            if lapse is not None:
                if moratoria and _overlaps(moratoria, lapse, last_day_at(month - 1)):
                    return None
                resumed = month - lapse
                if setup.owed:
                    back_pay = tuple(month_at(index) for index in range(lapse, month))
        return Eligibility(
            policy_id, decision.status, decision.reason, True, reported, valid_through, next_due,
            last, None, back_pay, (), None, False, resumed, None,
        )  # fmt: skip

    # Withheld for lack of certification since the month after validity ran out.
    lapse = first if ended is None else max(first, ended + 1)
    if moratoria and _overlaps(moratoria, lapse, on):
        return None
    # The tier a certification made now would meet: the months withheld before this one.
    mode = setup.lapse_mode(month - lapse, None if newest is None else month - newest)
    return Eligibility(
        policy_id, S.SUSPENDED, decision.reason, False, reported, valid_through, next_due, last,
        mode, (), (), None, False, None, None,
    )  # fmt: skip


def _lapse_from(
    first: int,
    previous: int | None,
    cycle: int,
    ends: Ends | None,
    made_in: int,
    approved: bool,
) -> int | None:
    """The first month of the lapse just before a certification made in ``made_in`` (> first),
    None when the month before it was covered or awaited the first certification."""
    ended = covered_until(previous, cycle, ends)
    if ended is None:
        return first if approved else None
    expired = ended + 1  # the first month after the previous one's validity
    return max(first, expired) if expired < made_in else None


def _overlaps(moratoria: tuple[MoratoriumFact, ...], first: int, until: date) -> bool:
    since = month_at(first).first_day
    return any(m.starts_on <= until and m.ends_on >= since for m in moratoria)
