"""``certsvc rekey``: rewrite what previous ID keys wrote, so that they can be retired.

Walks the recipients in primary-key order, in keyset batches of one short transaction each:
every row's ID number is opened with whichever key sealed it, and the row is rewritten when its
digest is not under the current HMAC key or its ciphertext is not sealed by the current
encryption key; in the same batch, its name and phone are re-sealed when a previous key sealed
them. Home-visit contact phones and webhook signing secrets, sealed with the same encryption
key, follow.

Safe while the API serves and when two runs overlap: the job sets nothing but the digest and
the ciphertext, and a recipient's ID number never changes, so whichever writer comes last (this
job, another run, a registration re-keying the row it meets) leaves the same digest and an
equally valid ciphertext. A name or phone can change meanwhile, so each of those updates is
conditional on the row still holding the ciphertext that was read (a value written since is
left as it is: its writer sealed it with its current key). Idempotent, since rows already
current are only read; resumable, since each finished batch is committed: after a crash, run
it again (or pass ``after``, the last id it reported).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import recipients
from app.db.engine import SessionMaker
from app.db.models import HomeVisitRequest, Recipient
from app.protection import IdProtector
from app.services.recipients.personal_data import (
    CONTACT_PHONE,
    RECIPIENT_NAME,
    RECIPIENT_PHONE,
    seal,
    unseal,
)

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
    # Names and phones of recipients and home-visit requests re-sealed (or to re-seal), and
    # those no configured key opens, as (field, row id): field one of personal_data's names.
    personal_rewritten: int = 0
    personal_unreadable: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    home_visit_requests: int = 0
    webhooks: int = 0
    webhooks_rewritten: int = 0
    webhooks_unreadable: list[uuid.UUID] = field(default_factory=list)
    last_id: uuid.UUID | None = None

    @property
    def previous_keys_needed(self) -> bool:
        """Whether anything stored still depends on a previous key (or could not be read)."""
        return bool(
            self.unreadable
            or self.duplicates
            or self.personal_unreadable
            or self.webhooks_unreadable
        )

    @property
    def rewritten(self) -> int:
        """Every value rewritten (or, with ``check_only``, to rewrite)."""
        return self.recipients_rewritten + self.personal_rewritten + self.webhooks_rewritten


Progress = Callable[[RekeySummary], None]


@dataclass
class _Batch:
    rows: int = 0
    last_id: uuid.UUID | None = None
    rewrites: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[uuid.UUID] = field(default_factory=list)
    duplicates: list[uuid.UUID] = field(default_factory=list)
    # Per sealed column: conditional rewrites {b_id, b_old, b_new}.
    personal: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    personal_unreadable: list[tuple[str, uuid.UUID]] = field(default_factory=list)

    @property
    def personal_rewrites(self) -> int:
        return sum(len(rewrites) for rewrites in self.personal.values())


# The sealed personal columns of each table, by the field name their context carries.
_RECIPIENT_COLUMNS = {
    RECIPIENT_NAME: Recipient.__table__.c.name_ciphertext,
    RECIPIENT_PHONE: Recipient.__table__.c.phone_ciphertext,
}
_REQUEST_COLUMNS = {CONTACT_PHONE: HomeVisitRequest.__table__.c.contact_phone_ciphertext}


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
        summary.personal_rewritten += batch.personal_rewrites
        summary.personal_unreadable += batch.personal_unreadable
        summary.last_id = batch.last_id
        if progress is not None:
            progress(summary)
    resealing = _Resealing(sessions, protector, batch_size, check_only, summary)
    await resealing.walk(recipients.sealed_contact_phones, resealing.home_visit_requests)
    await resealing.walk(recipients.sealed_webhook_secrets, resealing.webhooks)
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
                rows = await recipients.sealed_recipients(session, after, batch_size)
                batch = _plan(protector, [row[:3] for row in rows], check_only)
                for row in rows:
                    for name, stored in zip(_RECIPIENT_COLUMNS, row[3:], strict=True):
                        _plan_personal(protector, batch, name, row.id, stored, check_only)
                if not check_only:
                    if batch.rewrites:
                        await _rewrite(session, batch)
                    await _rewrite_personal(session, _RECIPIENT_COLUMNS, batch.personal)
                return batch
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _plan(
    protector: IdProtector, rows: Sequence[tuple[uuid.UUID, bytes, bytes]], check_only: bool
) -> _Batch:
    batch = _Batch(rows=len(rows), last_id=rows[-1][0] if rows else None)
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


def _plan_personal(
    protector: IdProtector,
    batch: _Batch,
    name: str,
    row_id: uuid.UUID,
    stored: bytes | None,
    check_only: bool,
) -> None:
    """Plan re-sealing one name or phone that a previous key sealed."""
    if stored is None or protector.sealed_with_current_key(bytes(stored)):
        return
    old = bytes(stored)
    try:
        value = unseal(protector, name, row_id, old)
    except ValueError:
        batch.personal_unreadable.append((name, row_id))
        return
    new = b"" if check_only else seal(protector, name, row_id, value)
    batch.personal.setdefault(name, []).append({"b_id": row_id, "b_old": old, "b_new": new})


async def _rewrite_personal(
    session: AsyncSession, columns: dict[str, Any], planned: dict[str, list[dict[str, Any]]]
) -> None:
    """One executemany per column, each row's update conditional on the ciphertext read."""
    for name, rewrites in planned.items():
        await recipients.reseal(session, columns[name], rewrites)


async def _rewrite(session: AsyncSession, batch: _Batch) -> None:
    """Rewrite the planned rows in one executemany, leaving out those whose current digest
    another recipient holds (a duplicate registration: reported, not merged here)."""
    holders = await recipients.ids_by_digest(
        session, [rewrite["b_digest"] for rewrite in batch.rewrites]
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
        await recipients.rewrite_id_keys(session, clear)


@dataclass(frozen=True, slots=True)
class _Resealing:
    """The walks after the recipients': tables whose only sealed values are under the
    encryption key, read in keyset batches like recipients, one transaction each."""

    sessions: SessionMaker
    protector: IdProtector
    batch_size: int
    check_only: bool
    summary: RekeySummary

    async def walk(
        self,
        read: Callable[[AsyncSession, uuid.UUID | None, int], Awaitable[Sequence[Any]]],
        reseal: Callable[[AsyncSession, Sequence[Any]], Awaitable[None]],
    ) -> None:
        """``reseal`` each batch ``read`` gives, in the batch's transaction, until none is
        left."""
        after: uuid.UUID | None = None
        while True:
            async with self.sessions() as session, session.begin():
                rows = await read(session, after, self.batch_size)
                if not rows:
                    return
                await reseal(session, rows)
            after = rows[-1].id

    async def home_visit_requests(self, session: AsyncSession, rows: Sequence[Any]) -> None:
        """Re-seal the contact phones of a batch of home-visit requests."""
        batch, check_only = _Batch(rows=len(rows)), self.check_only
        for request_id, stored in rows:
            _plan_personal(self.protector, batch, CONTACT_PHONE, request_id, stored, check_only)
        if not check_only:
            await _rewrite_personal(session, _REQUEST_COLUMNS, batch.personal)
        self.summary.home_visit_requests += len(rows)
        self.summary.personal_rewritten += batch.personal_rewrites
        self.summary.personal_unreadable += batch.personal_unreadable

    async def webhooks(self, session: AsyncSession, rows: Sequence[Any]) -> None:
        """Re-seal a batch of webhook signing secrets. A secret is not immutable the way an ID
        number is, so each update applies only if the row still holds the ciphertext read."""
        protector, summary = self.protector, self.summary
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
            rewrites.append({"b_id": webhook_id, "b_old": old, "b_new": protector.encrypt(secret)})
        if rewrites and not self.check_only:
            await recipients.rewrite_webhook_secrets(session, rewrites)
        summary.webhooks += len(rows)
        summary.webhooks_rewritten += len(rewrites)
