"""Certification ingest: the order of its steps, exactly-once, and validity at once.

The rules an item is judged by are in app/domain/acceptance.py (applied, with what they read, by
app/services/certifications/acceptance.py); what a request reads, and the engine's answers
from it, in app/services/certifications/request.py. This module runs a request through them
and stores what passes.

One certification (`record_certification`) and a batch (`record_batch`) take the same path,
set-based, so that a batch of a thousand costs a fixed number of statements rather than a
thousand times one: the recipients of every item are read in one statement and their facts in
one `load_facts` (one recipient: the point read's single statement); each item is judged in
Python, in request order; the new rows, with their audit entries and outbox events, are
inserted in one statement (``ON CONFLICT DO NOTHING``, app/services/certifications/store.py);
only then is each answer computed by the engine, in request order, so that an item sees the
items of its recipient before it and none after. Every check runs before anything is written,
so an item that fails leaves nothing behind. On PostgreSQL the common case writes on the bare
pool in a transaction of its own (app/db/native.py); an item that completes a home-visit
request or opens a fraud case takes the session's ORM path, with the whole request.

Exactly once: a source_ref or Idempotency-Key is claimed by the first item of the request that
passes the checks; a later item with the same key answers as a replay of it (200, or 409 when
its body differs), as two sequential requests would. A key already stored makes the insert
skip the row, and the item answers as a replay of the stored one; so does an item that failed
a check when its key is stored (the replay is answered before the checks, as it always was).
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import native, recipients
from app.db.base import new_ids
from app.domain.acceptance import after_recorded_death
from app.domain.eligibility import Eligibility
from app.domain.enums import Channel
from app.errors import AppError, Conflict, NotFound, validation_problem
from app.protection import RequestDigest
from app.schemas.certifications import (
    AnyCertificationCreate,
    CertificationCreate,
)
from app.schemas.channels import details_columns
from app.services.accounts import audit
from app.services.certifications.acceptance import (
    accepting_policies,
    claim_of,
    judgement,
    proven_at,
    recorded_death,
    require_channel,
    require_documents,
    require_reach,
    require_window,
)
from app.services.certifications.home_visits import StoredVisit, complete_from_certifications
from app.services.certifications.request import Ingest, RequestFacts
from app.services.certifications.store import (
    NewCertification,
    Stored,
    find_by_keys,
    insert_certifications,
    read_document,
    render_json,
    utc,
)
from app.services.eligibility.facts import BenefitRow, RecipientRow
from app.services.eligibility.policies import today
from app.services.notices.outbox import Event, EventType
from app.services.recipients.id_lookup import find_recipient_ids
from app.services.suspension.cases import open_case

# `Ingest` is defined with what it reads (app/services/certifications/request.py); callers
# name it here, with the two ways in.
__all__ = ["Ingest", "record_batch", "record_certification"]

_BODY = TypeAdapter[AnyCertificationCreate](CertificationCreate)


async def record_certification(
    session: AsyncSession,
    ingest: Ingest,
    body: AnyCertificationCreate,
    idempotency_key: str | None = None,
) -> tuple[bytes, bool]:
    """Store one certification exactly once; return it with every benefit's new validity, as
    the JSON of a `CertificationRead`, and whether it was created (False: a replay of the same
    request, answered with the original)."""
    [item] = await _ingest(session, ingest, [_Item(0, body, idempotency_key)])
    if item.problem is not None:
        raise item.problem
    return render_json(_document(item)), item.created


async def record_batch(session: AsyncSession, ingest: Ingest, items: list[dict[str, Any]]) -> bytes:
    """Each item succeeds or fails on its own; the results in request order, as the JSON of a
    `BatchResult` (written straight from the records: a thousand models cost more to build
    and render than the rest of the answer)."""
    with _collection_paused():
        return await _record_batch(session, ingest, items)


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Without the cycle collector. A batch allocates some 10^5 objects that all live until
    its answer is written, so the collector, run every 700 allocations, keeps promoting and
    rescanning them and the whole heap: 40 % of a batch's CPU, measured. Nothing a batch
    allocates forms cycles that outlive it; reference counting frees it all. Batches overlap
    on the event loop: the last one to finish turns the collector back on."""
    if _pause.batches == 0:
        _pause.collector_was_on = gc.isenabled()
        gc.disable()
    _pause.batches += 1
    try:
        yield
    finally:
        _pause.batches -= 1
        if _pause.batches == 0 and _pause.collector_was_on:
            gc.enable()


@dataclass
class _Pause:
    batches: int = 0  # in progress
    collector_was_on: bool = False  # before the first of them


_pause = _Pause()


async def _record_batch(
    session: AsyncSession, ingest: Ingest, items: list[dict[str, Any]]
) -> bytes:
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid = []
    for index, raw in enumerate(items):
        try:
            valid.append(_Item(index, _BODY.validate_python(raw), None))
        except ValidationError as exc:
            invalid = validation_problem(exc.errors()).model_dump(mode="json")
            results[index] = _result(index, 422, None, invalid)
    for item in await _ingest(session, ingest, valid):
        if item.problem is not None:
            problem = item.problem.to_problem().model_dump(mode="json")
            results[item.index] = _result(item.index, item.problem.status, None, problem)
        else:
            status = 201 if item.created else 200
            results[item.index] = _result(item.index, status, _document(item), None)
    return render_json({"results": results})


def _document(item: _Item) -> dict[str, Any]:
    """The `CertificationRead` of an item stored or replayed, as the document to render."""
    assert item.answer is not None and item.answers is not None
    benefits = [
        {
            "benefit_id": benefit.id,
            "status": answer.status,
            "payable": answer.payable,
            "valid_through": answer.valid_through,
            "next_due": answer.next_due,
        }
        for benefit, answer in item.answers
    ]
    return read_document(item.answer, benefits)


def _result(
    index: int, status: int, certification: dict[str, Any] | None, problem: dict[str, Any] | None
) -> dict[str, Any]:
    """A `BatchItemResult`, field for field."""
    return {"index": index, "status": status, "certification": certification, "problem": problem}


# --- the set-based path ---------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Item:
    index: int
    body: AnyCertificationCreate
    idempotency_key: str | None
    digest: RequestDigest | None = None
    problem: AppError | None = None
    # A check other than the role's failed: a stored key still makes the item a replay (those
    # checks always came after the replay look-up), which is looked for before answering.
    replay_first: bool = False
    # An earlier item of this request that claimed one of this item's keys.
    twin: _Item | None = None
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


async def _ingest(session: AsyncSession, ingest: Ingest, items: list[_Item]) -> list[_Item]:
    for item in items:
        try:
            require_channel(ingest.principal, item.body.channel)
        except AppError as exc:
            item.problem = exc
        else:
            item.digest = ingest.protector.request_digest(item.body)
    live = [item for item in items if item.problem is None]

    known = RequestFacts(ingest)
    numbers = {item.body.id_number for item in live if item.body.id_number is not None}
    if numbers:
        known.by_number = await find_recipient_ids(session, ingest.protector, numbers)
    await known.load(
        session,
        {item.body.recipient_id for item in live if item.body.recipient_id is not None}
        | set(known.by_number.values()),
    )
    _judge_all(live, known)
    pool = native.pool_for(session, ingest.pool)
    if pool is not None and not any(item.after_death or _visits(item) for item in live):
        # The common case writes rows only: a bare connection, in a transaction of its own.
        async with native.pooled_transaction(pool) as statements:
            await _store(native.Db(session, statements), ingest, live)
    else:
        await _store(native.Db.of(session), ingest, live)
    await _reach_replays(session, ingest, live, known)
    for item in live:
        if item.answer is not None and item.problem is None:
            known.add(item.answer, new=item.created)
            try:
                item.answers = known.evaluate(known.people[item.answer.recipient_id])
            except AppError as exc:  # a replay whose benefits no policy covers any more
                item.problem = exc
    return items


def _judge_all(items: Sequence[_Item], known: RequestFacts) -> None:
    """Judge each item in request order; claim the keys of those that pass."""
    claims: dict[tuple[str, str], _Item] = {}
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


def _judge(item: _Item, known: RequestFacts, certification_id: uuid.UUID) -> NewCertification:
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


def _visits(item: _Item) -> bool:
    """Would storing it complete a home-visit request (a statement of the ORM path)?"""
    return item.new is not None and item.body.channel is Channel.HOME_VISIT


async def _store(db: native.Db, ingest: Ingest, items: Sequence[_Item]) -> None:
    """Insert the rows of the items that passed, answer the others with what holds their keys,
    and record what the new ones cause."""
    rows = [item.new for item in items if item.new is not None]
    # One order for every request, so that two batches sharing keys cannot deadlock.
    rows.sort(key=lambda row: (row.stored.source_ref or "", row.stored.idempotency_key or ""))
    inserted = await insert_certifications(db, rows, ingest.now)
    for item in items:
        if item.new is not None and item.new.stored.id in inserted:
            item.answer, item.created = item.new.stored, True
    await _find_replays(db, ingest, items)
    await _record_consequences(db, ingest, [item for item in items if item.created])


async def _find_replays(db: native.Db, ingest: Ingest, items: Sequence[_Item]) -> None:
    """Answer as replays the items whose key is taken: by an earlier item of this request, or
    by a stored certification (found in one statement for all of them)."""
    pending = []
    for item in items:
        if item.twin is not None and item.twin.created:
            assert item.twin.answer is not None
            _replay(item, item.twin.answer)
        elif item.twin is not None or item.replay_first or (item.new and not item.created):
            pending.append(item)
    if not pending:
        return
    keys = {key for item in pending for key in item.keys}
    stored = await find_by_keys(
        db,
        ingest.principal.client_id,
        {value for kind, value in keys if kind == "source_ref"},
        {value for kind, value in keys if kind == "idempotency_key"},
    )
    # A row this request inserted was inserted by a later item (an earlier one would have
    # claimed the key): sequentially, it did not exist yet for the items looked up here.
    ours = {item.answer.id for item in items if item.created and item.answer is not None}
    stored = [row for row in stored if row.id not in ours]
    by_key = {}
    for row in stored:
        if row.idempotency_key is not None:
            by_key[("idempotency_key", row.idempotency_key)] = row
    for row in stored:  # a source_ref match is preferred
        if row.source_ref is not None:
            by_key[("source_ref", row.source_ref)] = row
    for item in pending:
        found = next((by_key[key] for key in item.keys if key in by_key), None)
        if found is not None:
            _replay(item, found)
        elif item.problem is None:
            # ON CONFLICT skipped the row, yet no row holds its keys: cannot happen under READ
            # COMMITTED (the twin it waited for committed, or it would have inserted).
            raise RuntimeError("a certification was neither inserted nor found stored")


async def _reach_replays(
    session: AsyncSession, ingest: Ingest, items: Sequence[_Item], known: RequestFacts
) -> None:
    """A replay is answered only to a client that may still reach its recipient (whom the item
    may not have named by id: load those)."""
    replays = [item for item in items if item.answer is not None and not item.created]
    await known.load(
        session, {item.answer.recipient_id for item in replays if item.answer} - set(known.people)
    )
    for item in replays:
        assert item.answer is not None
        try:
            require_reach(ingest.principal, known.people[item.answer.recipient_id])
        except AppError as exc:
            item.problem, item.answer = exc, None


def _replay(item: _Item, original: Stored) -> None:
    # Under the current HMAC key or a previous one: a retry from before a key rotation is
    # still a replay (docs/security.md).
    assert item.digest is not None
    if not item.digest.matches(original.request_digest):
        item.problem = Conflict(
            "this source_ref or Idempotency-Key was already used with a different body",
            code="idempotency_conflict",
        )
        return
    item.answer, item.problem, item.created = original, None, False


async def _record_consequences(db: native.Db, ingest: Ingest, created: Sequence[_Item]) -> None:
    """For the certifications just stored (their audit entries and outbox events are stored
    with them): the fraud case of one after a recorded death, the home-visit request a visit
    completes. Both take the ORM path, in the session's transaction."""
    for item in created:
        if item.after_death:
            assert item.answer is not None
            recipient = await recipients.recipient_with_benefits(
                db.session, item.answer.recipient_id
            )
            assert recipient is not None
            await open_case(
                db.session,
                recipient,
                None,
                "certified_after_death",
                f"after_death:{item.answer.id}",
                ingest.now,
                today(ingest.now),
                certification_id=item.answer.id,
            )
    visits = [
        StoredVisit(
            s.id,
            s.recipient_id,
            s.channel,
            s.result,
            getattr(item.body.details, "request_id", None),
            s.recorded_at,
        )
        for item in created
        if (s := item.answer) is not None and s.channel is Channel.HOME_VISIT
    ]
    if visits:
        await complete_from_certifications(db.session, visits)
