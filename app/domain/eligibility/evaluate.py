"""The engine's entry points: `evaluate_eligibility` (the shortcut, else the full walk),
`evaluate_full` (always the walk: the reference the fast-path tests compare with) and
`months_paid` (hindsight over the past months, for a payment run's reconciliation)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from app.domain.eligibility.facts import (
    BenefitFacts,
    CertificationFact,
    Eligibility,
    RecipientFacts,
)
from app.domain.eligibility.setup import first_walked, prepare
from app.domain.eligibility.shortcut import shortcut
from app.domain.eligibility.validity import counted_by_month, cycle_ends
from app.domain.eligibility.walk import month_states, walk
from app.domain.events import NO_EVENTS, LifeEvents
from app.domain.months import Month
from app.domain.policy import Policy
from app.domain.suspension import paid_months


def evaluate_eligibility(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None = None,
    *,
    events: LifeEvents = NO_EVENTS,
) -> Eligibility:
    """Decide whether ``benefit`` may be paid for the month of ``on``, as known at ``known_at``.

    Only certifications that count are used: passed at ingest (``counted``), through a channel
    the policy accepts, occurred by the end of ``on`` in the policy's time zone (and not after a
    confirmed death), recorded by ``known_at`` and not revoked by then (``known_at`` None:
    everything recorded so far). The newest one decides validity, so an older one arriving late
    never shortens it, and the order of ``certifications`` does not matter.

    ``events`` are the recipient's stop reports, verification cases, resumption steps and the
    moratoria; they too count only once recorded by ``known_at``. The months are walked from the
    first one anything could withhold (`app.domain.suspension`), so suspensions, resumption
    tiers, back pay and overpayments follow from the facts alone.

    ``policy`` must be the province's version in force on ``on`` (`PolicyBook.for_agency`) and
    must cover the benefit type; otherwise ValueError.
    """
    setup, certs, findings, history = prepare(
        benefit, recipient, certifications, policy, on, known_at, events
    )
    counted = counted_by_month(certs, setup, on, known_at, findings)
    ends = cycle_ends(setup, counted, history, known_at)
    answer = shortcut(setup, benefit, counted, ends, findings, on)
    if answer is None:
        answer = walk(setup, benefit, certs, counted, ends, history, findings, on, known_at, events)
    return answer


def evaluate_full(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None = None,
    *,
    events: LifeEvents = NO_EVENTS,
) -> Eligibility:
    """`evaluate_eligibility` without the shortcut: every month walked (the reference)."""
    setup, certs, findings, history = prepare(
        benefit, recipient, certifications, policy, on, known_at, events
    )
    counted = counted_by_month(certs, setup, on, known_at, findings)
    ends = cycle_ends(setup, counted, history, known_at)
    return walk(setup, benefit, certs, counted, ends, history, findings, on, known_at, events)


def months_paid(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None = None,
    *,
    events: LifeEvents = NO_EVENTS,
) -> frozenset[Month]:
    """The months through ``on``'s that are paid, in their own month or later as back pay, as
    known at ``known_at``: with hindsight, each past month judged at its last day. A payment
    run compares this with what the stored runs did (docs/policy.md §7.5). Nothing for a
    benefit whose withheld months are not paid back (unapproved, or ``back_pay = false``)."""
    setup, certs, findings, history = prepare(
        benefit, recipient, certifications, policy, on, known_at, events
    )
    if not setup.owed:
        return frozenset()
    begin = first_walked(setup, benefit, findings, on)
    return frozenset(
        paid_months(month_states(setup, certs, history, findings, begin, on, known_at))
    )
