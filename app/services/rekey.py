"""``certsvc rekey``: rewrite what previous ID keys wrote, so that they can be retired.

Walks the recipients in primary-key order, in keyset batches of one short transaction each:
every row's ID number is opened with whichever key sealed it, and the row is rewritten when its
digest is not under the current HMAC key or its ciphertext is not sealed by the current
encryption key. Webhook signing secrets, sealed with the same encryption key, follow.

Safe while the API serves and when two runs overlap: the job sets nothing but the digest and
the ciphertext, and a recipient's ID number never changes, so whichever writer comes last (this
job, another run, a registration re-keying the row it meets) leaves the same digest and an
equally valid ciphertext. Idempotent, since rows already current are only read; resumable,
since each finished batch is committed: after a crash, run it again (or pass ``after``, the last
id it reported).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import SessionMaker
from app.db.models import Recipient, Webhook
from app.protection import IdProtector

BATCH_SIZE = 1000
# A clash on the unique digest means that someone registered the number again between the
# duplicate check and the update (only a replica that does not know the previous key can):
# the batch is planned again, this many times at most.
ATTEMPTS = 3


@dataclass
class RekeySummary:
    """What a run found. With ``check_only`` the ``*_rewritten`` counts are what a real run
    would rewrite."""

    recipients: int = 0
    recipients_rewritten: int = 0
    # Ciphertexts that open with no configured key (a key removed too early, or damage).
    unreadable: list[uuid.UUID] = field(default_factory=list)
    # Registered twice: another recipient already holds this number's current digest. Both
    # rows stay until someone merges them; the previous HMAC key is still needed meanwhile.
    duplicates: list[uuid.UUID] = field(default_factory=list)
    webhooks: int = 0
    webhooks_rewritten: int = 0
    webhooks_unreadable: list[uuid.UUID] = field(default_factory=list)
    last_id: uuid.UUID | None = None

    @property
    def previous_keys_needed(self) -> bool:
        """Whether anything stored still depends on a previous key (or could not be read)."""
        return bool(self.unreadable or self.duplicates or self.webhooks_unreadable)


Progress = Callable[[RekeySummary], None]


@dataclass
class _Batch:
    rows: int = 0
    last_id: uuid.UUID | None = None
    rewrites: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[uuid.UUID] = field(default_factory=list)
    duplicates: list[uuid.UUID] = field(default_factory=list)


async def rekey(
    sessions: SessionMaker,
    protector: IdProtector,
    *,
    batch_size: int = BATCH_SIZE,
    after: uuid.UUID | None = None,
    check_only: bool = False,
    progress: Progress | None = None,
) -> RekeySummary:
    """Bring every recipient after ``after`` (all by default) and every webhook secret to the
    current keys; with ``check_only``, count what would change and write nothing."""
    summary = RekeySummary(last_id=after)
    while True:
        batch = await _recipients_batch(
            sessions, protector, summary.last_id, batch_size, check_only
        )
        if not batch.rows:
            break
        summary.recipients += batch.rows
        summary.recipients_rewritten += len(batch.rewrites)
        summary.unreadable += batch.unreadable
        summary.duplicates += batch.duplicates
        summary.last_id = batch.last_id
        if progress is not None:
            progress(summary)
    await _webhooks(sessions, protector, batch_size, check_only, summary)
    return summary


async def _recipients_batch(
    sessions: SessionMaker,
    protector: IdProtector,
    after: uuid.UUID | None,
    batch_size: int,
    check_only: bool,
) -> _Batch:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with sessions() as session, session.begin():
                query = select(Recipient.id, Recipient.id_digest, Recipient.id_ciphertext)
                if after is not None:
                    query = query.where(Recipient.id > after)
                rows = (await session.execute(query.order_by(Recipient.id).limit(batch_size))).all()
                batch = _plan(protector, rows, check_only)
                if batch.rewrites and not check_only:
                    await _rewrite(session, batch)
                return batch
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _plan(
    protector: IdProtector, rows: Sequence[Row[uuid.UUID, bytes, bytes]], check_only: bool
) -> _Batch:
    batch = _Batch(rows=len(rows), last_id=rows[-1].id if rows else None)
    for recipient_id, digest, ciphertext in rows:
        try:
            number = protector.decrypt(bytes(ciphertext))
        except ValueError:
            batch.unreadable.append(recipient_id)
            continue
        current = protector.digest(number)
        if bytes(digest) == current and protector.sealed_with_current_key(bytes(ciphertext)):
            continue
        batch.rewrites.append(
            {
                "b_id": recipient_id,
                "b_digest": current,
                "b_ciphertext": b"" if check_only else protector.encrypt(number),
            }
        )
    return batch


async def _rewrite(session: AsyncSession, batch: _Batch) -> None:
    """Rewrite the planned rows in one executemany, leaving out those whose current digest
    another recipient holds (a duplicate registration: reported, not merged here)."""
    wanted = [rewrite["b_digest"] for rewrite in batch.rewrites]
    holders = dict(
        (bytes(digest), rid)
        for digest, rid in await session.execute(
            select(Recipient.id_digest, Recipient.id).where(Recipient.id_digest.in_(wanted))
        )
    )
    clear = []
    for rewrite in batch.rewrites:
        holder = holders.get(rewrite["b_digest"])
        if holder is not None and holder != rewrite["b_id"]:
            batch.duplicates.append(rewrite["b_id"])
        else:
            clear.append(rewrite)
    batch.rewrites = clear
    if clear:
        # On the connection, not the ORM session: one executemany of a plain UPDATE.
        connection = await session.connection()
        await connection.execute(
            update(Recipient)
            .where(Recipient.id == bindparam("b_id"))
            .values(id_digest=bindparam("b_digest"), id_ciphertext=bindparam("b_ciphertext")),
            clear,
        )


async def _webhooks(
    sessions: SessionMaker,
    protector: IdProtector,
    batch_size: int,
    check_only: bool,
    summary: RekeySummary,
) -> None:
    """Re-seal webhook signing secrets. A secret is not immutable the way an ID number is, so
    each update applies only if the row still holds the ciphertext that was read."""
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session, session.begin():
            query = select(Webhook.id, Webhook.secret_ciphertext)
            if after is not None:
                query = query.where(Webhook.id > after)
            rows = (await session.execute(query.order_by(Webhook.id).limit(batch_size))).all()
            if not rows:
                return
            rewrites = []
            for webhook_id, ciphertext in rows:
                old = bytes(ciphertext)
                if protector.sealed_with_current_key(old):
                    continue
                try:
                    secret = protector.decrypt(old)
                except ValueError:
                    summary.webhooks_unreadable.append(webhook_id)
                    continue
                rewrites.append(
                    {"b_id": webhook_id, "b_old": old, "b_new": protector.encrypt(secret)}
                )
            if rewrites and not check_only:
                connection = await session.connection()
                await connection.execute(
                    update(Webhook)
                    .where(Webhook.id == bindparam("b_id"))
                    .where(Webhook.secret_ciphertext == bindparam("b_old"))
                    .values(secret_ciphertext=bindparam("b_new")),
                    rewrites,
                )
        summary.webhooks += len(rows)
        summary.webhooks_rewritten += len(rewrites)
        after = rows[-1].id
