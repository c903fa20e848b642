"""Certification ingest: the order of its steps, exactly-once, and validity at once.

The rules an item is judged by are in app/domain/acceptance.py (applied, with what they read, by
app/services/certifications/acceptance.py); what a request reads, and the engine's answers
from it, in app/services/certifications/request.py. This module runs a request through its
steps: each item is judged (app/services/certifications/judging.py), what passes is stored
exactly once and the rest answered as replays (app/services/certifications/exactly_once.py).

One certification (`record_certification`) and a batch (`record_batch`) take the same path,
set-based, so that a batch of a thousand costs a fixed number of statements rather than a
thousand times one: the recipients of every item are read in one statement and their facts in
one `load_facts` (one recipient: the point read's single statement); each item is judged in
Python, in request order; the new rows, with their audit entries and outbox events, are
inserted in one statement (``ON CONFLICT DO NOTHING``, app/db/certifications/ingest.py);
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import native
from app.domain.enums import Channel
from app.errors import AppError, validation_problem
from app.schemas.certifications import (
    AnyCertificationCreate,
    CertificationCreate,
)
from app.services.certifications.acceptance import require_channel
from app.services.certifications.exactly_once import reach_replays, store_items
from app.services.certifications.judging import Item, judge_all
from app.services.certifications.request import Ingest, RequestFacts
from app.services.certifications.store import read_document, render_json
from app.services.recipients.id_lookup import find_recipient_ids

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
    [item] = await _ingest(session, ingest, [Item(0, body, idempotency_key)])
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
            valid.append(Item(index, _BODY.validate_python(raw), None))
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


def _document(item: Item) -> dict[str, Any]:
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


async def _ingest(session: AsyncSession, ingest: Ingest, items: list[Item]) -> list[Item]:
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
    judge_all(live, known)
    pool = native.pool_for(session, ingest.pool)
    if pool is not None and not any(item.after_death or _visits(item) for item in live):
        # The common case writes rows only: a bare connection, in a transaction of its own.
        async with native.pooled_transaction(pool) as statements:
            await store_items(native.Db(session, statements), ingest, live)
    else:
        await store_items(native.Db.of(session), ingest, live)
    await reach_replays(session, ingest, live, known)
    for item in live:
        if item.answer is not None and item.problem is None:
            known.add(item.answer, new=item.created)
            try:
                item.answers = known.evaluate(known.people[item.answer.recipient_id])
            except AppError as exc:  # a replay whose benefits no policy covers any more
                item.problem = exc
    return items


def _visits(item: Item) -> bool:
    """Would storing it complete a home-visit request (a statement of the ORM path)?"""
    return item.new is not None and item.body.channel is Channel.HOME_VISIT
