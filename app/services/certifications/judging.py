"""Judging the items of a certification request, in request order, against what it read.

Each item passes the acceptance rules (app/services/certifications/acceptance.py, the rules
themselves in app/domain/acceptance.py) or keeps the error it answers with; one that passes
claims its source_ref and Idempotency-Key, so that a later item of the request with one of
them is its twin (a replay), and is given the row it would insert, with its audit entry and
the outbox events of a counted certification.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from app.db.base import new_ids
from app.db.facts import BenefitRow, RecipientRow
from app.domain.acceptance import after_recorded_death
from app.domain.eligibility import Eligibility
from app.errors import AppError, NotFound
from app.protection import RequestDigest
from app.schemas.certifications import AnyCertificationCreate
from app.schemas.channels import details_columns
from app.services.accounts import audit
from app.services.certifications.acceptance import (
    accepting_policies,
    claim_of,
    judgement,
    proven_at,
    recorded_death,
    require_documents,
    require_reach,
    require_window,
)
from app.services.certifications.request import RequestFacts
from app.services.certifications.store import NewCertification, Stored, utc
from app.services.eligibility.policies import today
from app.services.notices.outbox import Event, EventType


@dataclass(eq=False, slots=True)
class Item:
    """One certification of a request (its index in a batch) as it goes through ingest:
    judged, then stored or answered as a replay, then answered."""

    index: int
    body: AnyCertificationCreate
    idempotency_key: str | None
    digest: RequestDigest | None = None
    problem: AppError | None = None
    # A check other than the role's failed: a stored key still makes the item a replay (those
    # checks always came after the replay look-up), which is looked for before answering.
    replay_first: bool = False
    # An earlier item of this request that claimed one of this item's keys.
    twin: Item | None = None
    new: NewCertification | None = None
    after_death: bool = False
    answer: Stored | None = None
    created: bool = False
    # Each benefit's answer with this certification (and the request's earlier ones).
    answers: list[tuple[BenefitRow, Eligibility]] | None = None

    @property
    def keys(self) -> list[tuple[str, str]]:
        keys = []
        if self.body.source_ref is not None:
            keys.append(("source_ref", self.body.source_ref))
        if self.idempotency_key is not None:
            keys.append(("idempotency_key", self.idempotency_key))
        return keys


def judge_all(items: Sequence[Item], known: RequestFacts) -> None:
    """Judge each item in request order; claim the keys of those that pass."""
    claims: dict[tuple[str, str], Item] = {}
    ids = iter(new_ids(len(items)))
    for item in items:
        keys = item.keys
        item.twin = next((claims[key] for key in keys if key in claims), None)
        if item.twin is not None:
            continue
        try:
            item.new = _judge(item, known, next(ids))
        except AppError as exc:
            item.problem, item.replay_first = exc, bool(keys)
            continue
        claims.update(dict.fromkeys(keys, item))


def _judge(item: Item, known: RequestFacts, certification_id: uuid.UUID) -> NewCertification:
    ingest, body = known.ingest, item.body
    person = _resolve(body, known)
    claim = claim_of(body)
    require_window(known.window, body.occurred_at)
    policies = accepting_policies(person, body.channel, today(body.occurred_at), known.policy)
    proof = proven_at(claim, today(known.recorded_at), policies)
    occurred_at = proof.at
    known.inputs(person)  # answering today must be possible too
    judged = judgement(claim, person, policies)
    counted, result = judged.counted, judged.result
    warnings = [*judged.warnings, *proof.warnings]
    if known.incarcerated(person):
        require_documents(claim)
    if after_recorded_death(today(occurred_at), recorded_death(known.facts(person))):
        # Kept for the fraud case only.
        counted = False
        warnings.append("after_recorded_death")
        item.after_death = True
    stored = Stored(
        id=certification_id,
        recipient_id=person.id,
        channel=body.channel,
        result=result,
        counted=counted,
        occurred_at=utc(occurred_at),
        recorded_at=known.recorded_at,
        client_id=ingest.principal.client_id,
        source_ref=body.source_ref,
        idempotency_key=item.idempotency_key,
        request_digest=str(item.digest),
        details=body.details.model_dump(mode="json"),
        warnings=warnings,
    )
    text_id = str(certification_id)
    entry = audit.Entry(
        ingest.now,
        stored.client_id,
        "certification.recorded",
        "certification",
        text_id,
        person.id,
        {"channel": body.channel.value, "counted": counted, "warnings": warnings},
    )
    # A counted certification is announced once per benefit (webhooks, docs/webhooks.md).
    payload: dict[str, object] = {"certification_id": text_id, "channel": body.channel.value}
    events = tuple(
        Event(
            EventType.CERTIFIED,
            person.id,
            benefit.id,
            benefit.agency_code,
            payload,
            f"certified:{text_id}:{benefit.id}",
        )
        for benefit in (person.benefits if counted else ())
    )
    details = body.details
    # Only the models that have it (a missing attribute costs pydantic an exception).
    mode = getattr(details, "mode", None) if "mode" in type(details).model_fields else None
    return NewCertification(stored, mode, details_columns(details), entry, events)


def _resolve(body: AnyCertificationCreate, known: RequestFacts) -> RecipientRow:
    if body.id_number is not None:
        recipient_id = known.by_number.get(body.id_number)
        if recipient_id is None:
            raise NotFound("no recipient has this ID number")
    else:
        assert body.recipient_id is not None
        recipient_id = body.recipient_id
    person = known.people.get(recipient_id)
    if person is None:
        raise NotFound("no such recipient")
    require_reach(known.ingest.principal, person)
    return person
