"""Deciding one chunk of a payment run: facts built straight from column rows, the engine asked
once per benefit, and each decision rendered once as the NDJSON line that is stored, served
and hashed into the run's digest. No I/O here
(app/db/runs/portable.py reads and writes).

The facts are the ones `app.db.facts.load_facts` gives the single and batch
answers:
counted certifications (the engine filters them further as known at the run's instant), stop
reports, verification cases, resumption steps and the moratoria; the policy is the one
`policy_for` picks; ``last_record_at`` is `FactBook.newest_record`. tests/api/test_run_agreement.py
holds the two paths equal on a population with every kind of fact.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Final

import orjson

from app.db.facts import Facts
from app.db.runs.rows import Chunk, ItemRecord
from app.domain.eligibility import (
    BenefitFacts,
    CertificationFact,
    RecipientFacts,
    evaluate_eligibility,
    months_paid,
)
from app.domain.enums import BenefitType, Channel, EligibilityStatus, Residence
from app.domain.events import LifeEvents, MoratoriumFact
from app.domain.months import Month
from app.domain.policy import Policy, PolicyBook
from app.domain.run_back_pay import RunLedger, StoredRuns, run_back_pay
from app.errors import AppError
from app.services.eligibility.policies import policy_for

_CHANNELS: Final = {channel.value: channel for channel in Channel}
_TYPES: Final = {kind.value: kind for kind in BenefitType}
_RESIDENCES: Final = {residence.value: residence for residence in Residence}


def render_line(
    seq: int,
    benefit_id: str,
    recipient_id: str,
    external_ref: str | None,
    agency_code: str,
    payable: bool,
    status: str,
    reason: str,
    back_pay_months: list[str],
    overpaid_months: list[str],
    policy_id: str,
    valid_through: date | None,
    last_record_at: datetime | None,
) -> bytes:
    """One item as its NDJSON line: keys sorted, instants in UTC with ``Z``. The only place the
    served bytes are made, whether from a fresh decision or from stored item columns."""
    if last_record_at is not None and last_record_at.tzinfo is not UTC:
        last_record_at = last_record_at.astimezone(UTC)
    return (
        orjson.dumps(
            {
                "agency_code": agency_code,
                "back_pay_months": back_pay_months,
                "benefit_id": benefit_id,
                "external_ref": external_ref,
                "last_record_at": last_record_at,
                "overpaid_months": overpaid_months,
                "payable": payable,
                "policy_id": policy_id,
                "reason": reason,
                "recipient_id": recipient_id,
                "seq": seq,
                "status": status,
                "valid_through": valid_through,
            },
            option=orjson.OPT_UTC_Z,
        )
        + b"\n"
    )


@dataclass
class Decided:
    """A chunk's items: their lines in order (the page that is stored and served), the same
    items as typed rows, and counts."""

    lines: list[bytes] = field(default_factory=list)
    records: list[ItemRecord] = field(default_factory=list)
    payable: int = 0
    withheld: int = 0
    stopped: int = 0


class RunDecider:
    """Decides chunks for one run: one policy book, decision day, instant and moratoria, and
    the stored runs its back pay is reconciled against (`run_back_pay`)."""

    def __init__(
        self,
        run_id: uuid.UUID,
        policies: PolicyBook,
        on: date,
        known_at: datetime,
        moratoria: Sequence[MoratoriumFact],
        runs: StoredRuns | None = None,
    ) -> None:
        self.run_id = run_id
        self.policies = policies
        self.on = on
        self.known_at = known_at
        self.moratoria = tuple(moratoria)
        self.runs = runs or StoredRuns()
        # A recipient with no stop, case or step: `Facts.events` gives this value for it.
        self.quiet = LifeEvents(moratoria=self.moratoria)
        # `policy` fills both: a found policy in the first, a refusal in the second.
        self._policies: dict[tuple[str, str], Policy] = {}
        self._refused: dict[tuple[str, str], AppError] = {}
        self._recipients: dict[tuple[str, int], RecipientFacts] = {}

    def policy(self, agency_code: str, benefit_type: str) -> Policy:
        """`policy_for`, asked once per agency and benefit type (the run has one day)."""
        key = (agency_code, benefit_type)
        found = self._policies.get(key)
        if found is not None:
            return found
        refused = self._refused.get(key)
        if refused is None:
            try:
                found = policy_for(
                    self.policies, _PolicyKey(_TYPES[benefit_type], agency_code), self.on
                )
            except AppError as exc:
                refused = self._refused[key] = exc
            else:
                self._policies[key] = found
                return found
        raise refused

    def decide(self, chunk: Chunk, first_seq: int) -> Decided:
        """Every benefit of the chunk, numbered from ``first_seq``, in the chunk's order.

        Called a million times per run, so written for speed: locals, no per-item helpers."""
        known_at = self.known_at
        on = self.on
        certifications, newest = self._certifications(chunk)
        events = self._events(chunk, newest)

        decided = Decided()
        lines = decided.lines
        records = decided.records
        run_id = self.run_id
        recipients = chunk.recipients
        policies = self._policies
        quiet = self.quiet
        types = _TYPES
        stopped = EligibilityStatus.STOPPED
        no_months: list[str] = []
        seq = first_seq - 1
        current = ""
        facts = certs = None
        recipient_events = quiet
        last_record: datetime | None = None
        payable = withheld = stopped_count = 0
        # None without stored runs: then the point answer's back pay stands as it is.
        ledgers = chunk.ledgers if self.runs else None
        for (
            rid,
            bid,
            btype,
            agency,
            start,
            approved,
            external_ref,
            funeral,
            registered_at,
        ) in chunk.benefits:
            if rid != current:
                current = rid
                facts = self._recipient(*recipients[rid])
                certs = certifications.get(rid, ())
                recipient_events = events.get(rid, quiet)
                last_record = newest.get(rid)
            assert facts is not None and certs is not None
            policy = policies.get((agency, btype)) or self.policy(agency, btype)
            answer = evaluate_eligibility(
                BenefitFacts(bid, types[btype], agency, start, approved, funeral),
                facts,
                certs,
                policy,
                on,
                known_at,
                events=recipient_events,
            )
            seq += 1
            # StrEnum members: served and stored as their values.
            status = answer.status
            reason = answer.reason
            months = answer.back_pay_months
            if ledgers is not None and (months or bid in ledgers):
                months = self._reconciled(
                    months, ledgers.get(bid), registered_at,
                    BenefitFacts(bid, types[btype], agency, start, approved, funeral),
                    facts, certs, policy, recipient_events,
                )  # fmt: skip
            back_pay = [str(month) for month in months] if months else no_months
            months = answer.overpaid_months
            overpaid = [str(month) for month in months] if months else no_months
            valid_through = answer.valid_through
            lines.append(
                render_line(
                    seq,
                    bid,
                    rid,
                    external_ref,
                    agency,
                    answer.payable,
                    status,
                    reason,
                    back_pay,
                    overpaid,
                    policy.id,
                    valid_through,
                    last_record,
                )
            )
            records.append(
                (
                    run_id,
                    seq,
                    bid,
                    rid,
                    external_ref,
                    agency,
                    answer.payable,
                    status,
                    reason,
                    orjson.dumps(back_pay).decode() if back_pay else "[]",
                    orjson.dumps(overpaid).decode() if overpaid else "[]",
                    policy.id,
                    valid_through,
                    last_record,
                )
            )
            if answer.payable:
                payable += 1
            elif status is stopped:
                stopped_count += 1
            else:
                withheld += 1
        decided.payable, decided.withheld, decided.stopped = payable, withheld, stopped_count
        return decided

    def _reconciled(
        self,
        listed: tuple[Month, ...],
        ledger: RunLedger | None,
        registered_at: datetime,
        benefit: BenefitFacts,
        recipient: RecipientFacts,
        certifications: Sequence[CertificationFact],
        policy: Policy,
        events: LifeEvents,
    ) -> tuple[Month, ...]:
        """The point answer's back pay, reconciled against the stored runs."""
        paid_now = partial(
            months_paid,
            benefit,
            recipient,
            certifications,
            policy,
            self.on,
            self.known_at,
            events=events,
        )
        month = self.on.year * 12 + self.on.month - 1
        return run_back_pay(month, listed, ledger, self.runs, registered_at, paid_now)

    def _certifications(
        self, chunk: Chunk
    ) -> tuple[dict[str, list[CertificationFact]], dict[str, datetime]]:
        """Each recipient's certification facts, and the latest instant among them a decision
        as of known_at saw (``last_record_at``, as `FactBook.newest_record` has it)."""
        known_at = self.known_at
        channels = _CHANNELS
        certifications: dict[str, list[CertificationFact]] = {}
        newest: dict[str, datetime] = {}
        for rid, cid, channel, occurred, recorded, revoked in chunk.certifications:
            fact = CertificationFact(cid, channels[channel], occurred, recorded, True, revoked)
            held = certifications.get(rid)
            if held is None:
                certifications[rid] = [fact]
            else:
                held.append(fact)
            if recorded <= known_at:
                seen = newest.get(rid)
                if seen is None or recorded > seen:
                    newest[rid] = recorded
            if revoked is not None and revoked <= known_at:
                seen = newest.get(rid)
                if seen is None or revoked > seen:
                    newest[rid] = revoked
        return certifications, newest

    def _recipient(self, residence: str, contacts: int) -> RecipientFacts:
        key = (residence, contacts)
        facts = self._recipients.get(key)
        if facts is None:
            facts = RecipientFacts(_RESIDENCES[residence], contacts)
            self._recipients[key] = facts
        return facts

    def _events(self, chunk: Chunk, newest: dict[str, datetime]) -> dict[str, LifeEvents]:
        """Each recipient's stops, cases, steps and registry history with the moratoria, as
        `Facts.events` gives them (gathered in a `Facts`), and their recording instants noted
        for ``last_record_at``."""
        known_at = self.known_at
        found: dict[str, Facts] = {}
        for rid, stop in chunk.stops:
            found.setdefault(rid, Facts()).stops.append(stop)
            _note(newest, rid, stop.recorded_at, known_at)
        for rid, case in chunk.cases:
            found.setdefault(rid, Facts()).cases.append(case)
            _note(newest, rid, case.opened_at, known_at)
            if case.resolved_at is not None:
                _note(newest, rid, case.resolved_at, known_at)
        for rid, step in chunk.steps:
            found.setdefault(rid, Facts()).steps.append(step)
            _note(newest, rid, step.recorded_at, known_at)
        for rid, value in chunk.registry:
            found.setdefault(rid, Facts()).registry.append(value)
            _note(newest, rid, value.recorded_at, known_at)
        return {rid: e.events(self.moratoria) for rid, e in found.items()}


def _note(newest: dict[str, datetime], rid: str, instant: datetime, known_at: datetime) -> None:
    """Keep the latest recording instant a decision as of ``known_at`` saw."""
    if instant <= known_at:
        held = newest.get(rid)
        if held is None or instant > held:
            newest[rid] = instant


@dataclass(frozen=True, slots=True)
class _PolicyKey:
    benefit_type: BenefitType
    agency_code: str
