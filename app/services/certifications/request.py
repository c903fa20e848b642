"""What one certification request is judged against: its fixed inputs and what it reads.

`Ingest` is fixed when the request arrives (who posts, the keys, the policy book, the clock).
`RequestFacts` is what the request reads, once for a whole batch: the recipients its items
name, their facts, the policies in force (each looked up once) and the engine's answers for
them today. app/services/certifications/ingest.py judges items against it and adds each new
certification to it, so that an item's answer includes the items of its recipient before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import native
from app.db.facts import (
    BenefitRow,
    FactBook,
    Facts,
    RecipientRow,
    benefit_facts,
    load_facts,
    load_recipient_facts,
    recipient_facts,
)
from app.db.read_pool import ReadPool
from app.domain.acceptance import TimeWindow
from app.domain.eligibility import BenefitFacts, Eligibility, RecipientFacts, evaluate_eligibility
from app.domain.enums import BenefitType
from app.domain.events import LifeEvents
from app.domain.policy import Policy, PolicyBook
from app.errors import AppError
from app.protection import IdProtector
from app.services.certifications.store import Stored, load_people, utc
from app.services.eligibility.policies import policy_for, today


@dataclass(frozen=True, slots=True)
class Ingest:
    """Everything a certification is judged against, fixed for one request."""

    principal: Principal
    protector: IdProtector
    policies: PolicyBook
    now: datetime
    max_backdate_days: int
    # PostgreSQL's bare pool (app/db/read_pool.py), where the common case writes.
    pool: ReadPool | None = None


@dataclass
class RequestFacts:
    """What the judging and the answers read: the recipients named and their facts, and the
    policies in force, looked up once per request; the window occurred_at must lie in."""

    ingest: Ingest
    people: dict[uuid.UUID, RecipientRow] = field(default_factory=dict)
    by_number: dict[str, uuid.UUID] = field(default_factory=dict)
    book: FactBook = field(default_factory=lambda: FactBook({}, []))
    _known: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    _policies: dict[tuple[str, BenefitType, date], Policy | AppError] = field(default_factory=dict)
    _inputs: dict[uuid.UUID, EngineInputs] = field(default_factory=dict)
    _incarcerated: dict[uuid.UUID, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.ingest.now
        self.on = today(now)  # the day every answer is for
        self.recorded_at = utc(now)
        self.window = TimeWindow.around(now, self.ingest.max_backdate_days)

    async def load(self, session: AsyncSession, ids: set[uuid.UUID]) -> None:
        """The recipients with these ids, with their facts: one statement for one recipient
        (the point read's), a fixed few for many."""
        if not ids:
            return
        if len(ids) == 1:
            [recipient_id] = ids
            loaded = await load_recipient_facts(session, recipient_id, self.ingest.pool)
            if loaded is None:
                return
            recipient, book = loaded
            people: Sequence[RecipientRow] = [recipient]
        else:
            people = await load_people(native.Db.of(session), ids)
            book = await load_facts(session, [person.id for person in people])
        self.people.update((person.id, person) for person in people)
        self.book.by_recipient.update(book.by_recipient)
        self.book.moratoria[:] = book.moratoria

    def facts(self, person: RecipientRow) -> Facts:
        return self.book.by_recipient[person.id]

    def add(self, stored: Stored, *, new: bool) -> None:
        """A counted certification the next answers for its recipient include: one just
        inserted, or one a replay found (in the facts already, unless a racing twin stored it
        after they were read)."""
        if not stored.counted:
            return
        facts = self.book.by_recipient[stored.recipient_id].certifications
        known = self._known.get(stored.recipient_id)
        if new:
            facts.append(stored.fact())
            if known is not None:
                known.add(str(stored.id))
            return
        if known is None:
            known = self._known[stored.recipient_id] = {c.certification_id for c in facts}
        if str(stored.id) not in known:
            known.add(str(stored.id))
            facts.append(stored.fact())

    def policy(self, benefit: BenefitRow, day: date) -> Policy:
        """`policy_for`, remembered (its refusal too) for the request."""
        key = (benefit.agency_code, benefit.benefit_type, day)
        found = self._policies.get(key)
        if found is None:
            try:
                found = policy_for(self.ingest.policies, benefit, day)
            except AppError as exc:
                found = exc
            self._policies[key] = found
        if isinstance(found, AppError):
            raise found
        return found

    def inputs(self, person: RecipientRow) -> EngineInputs:
        """What the engine reads of a recipient besides certifications; raises what answering
        for it today would (a benefit no policy covers), before anything is stored."""
        inputs = self._inputs.get(person.id)
        if inputs is None:
            benefits = tuple(
                (benefit, benefit_facts(benefit), self.policy(benefit, self.on))
                for benefit in person.benefits
            )
            inputs = EngineInputs(recipient_facts(person), benefits, self.book.events(person.id))
            self._inputs[person.id] = inputs
        return inputs

    def incarcerated(self, person: RecipientRow) -> bool:
        """An imprisonment report stands today (only stop reports can make it so)."""
        if person.id not in self._incarcerated:
            self._incarcerated[person.id] = bool(self.facts(person).stops) and any(
                answer.incarcerated for _, answer in self.evaluate(person)
            )
        return self._incarcerated[person.id]

    def evaluate(self, person: RecipientRow) -> list[tuple[BenefitRow, Eligibility]]:
        """Every benefit's answer today, by the engine (as `evaluate_benefits` gives it)."""
        inputs = self.inputs(person)
        certifications = self.facts(person).certifications
        return [
            (
                benefit,
                evaluate_eligibility(
                    facts, inputs.recipient, certifications, policy, self.on, events=inputs.events
                ),
            )
            for benefit, facts, policy in inputs.benefits
        ]


@dataclass(frozen=True, slots=True)
class EngineInputs:
    """What the engine reads of a recipient besides certifications."""

    recipient: RecipientFacts
    benefits: tuple[tuple[BenefitRow, BenefitFacts, Policy], ...]
    events: LifeEvents
