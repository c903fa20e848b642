"""Storing the judged items exactly once, and answering the others as replays.

The rows of the items that passed are inserted in one statement (``ON CONFLICT DO NOTHING``,
app/services/certifications/store.py); an item whose key an earlier item of the request or a
stored row holds answers as a replay of it (200, or 409 ``idempotency_conflict`` when its body
differs), and only to a client that may still reach its recipient. Then what the new ones
cause: the fraud case of one after a recorded death, the home-visit request a visit completes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import native, recipients
from app.domain.enums import Channel
from app.errors import AppError, Conflict
from app.services.certifications.acceptance import require_reach
from app.services.certifications.home_visits import StoredVisit, complete_from_certifications
from app.services.certifications.judging import Item
from app.services.certifications.request import Ingest, RequestFacts
from app.services.certifications.store import Stored, find_by_keys, insert_certifications
from app.services.eligibility.policies import today
from app.services.suspension.cases import open_case


async def store_items(db: native.Db, ingest: Ingest, items: Sequence[Item]) -> None:
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


async def _find_replays(db: native.Db, ingest: Ingest, items: Sequence[Item]) -> None:
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


async def reach_replays(
    session: AsyncSession, ingest: Ingest, items: Sequence[Item], known: RequestFacts
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


def _replay(item: Item, original: Stored) -> None:
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


async def _record_consequences(db: native.Db, ingest: Ingest, created: Sequence[Item]) -> None:
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
