"""Finding recipients by ID number under every configured HMAC key.

While an HMAC key rotates, a recipient's stored digest is under the current key or, until
``certsvc rekey`` has rewritten it, under a previous one (docs/security.md, "Key rotation").
Every look-up by ID number goes through here; with one key configured each function issues
exactly the statement the service issued before rotation existed (app/db/recipients.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import recipients
from app.db.facts import IN_CHUNK
from app.db.locks import advisory_xact_lock, digest_lock_key
from app.protection import IdProtector


async def find_recipient_id(
    session: AsyncSession, protector: IdProtector, id_number: str
) -> uuid.UUID | None:
    """The recipient registered under this ID number, under the current or a previous key."""
    if not protector.has_previous_hmac_keys:
        return await recipients.recipient_id_by_digest(session, [protector.digest(id_number)])
    return await recipients.recipient_id_by_digest(session, protector.digests(id_number))


async def find_recipient_ids(
    session: AsyncSession, protector: IdProtector, id_numbers: Iterable[str]
) -> dict[str, uuid.UUID]:
    """The registered ones among ``id_numbers``, by number: their current digests first, one
    query per IN_CHUNK, then the numbers not found under the previous keys. Once ``certsvc
    rekey`` has run, a rotation adds little but the previous digests of unknown numbers."""
    wanted = set(id_numbers)
    found = await _by_digest(session, {protector.digest(number): number for number in wanted})
    missing = wanted.difference(found) if protector.has_previous_hmac_keys else ()
    if missing:
        previous = {d: number for number in missing for d in protector.digests(number)[1:]}
        found |= await _by_digest(session, previous)
    return found


async def _by_digest(session: AsyncSession, numbers: dict[bytes, str]) -> dict[str, uuid.UUID]:
    digests = list(numbers)
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(digests), IN_CHUNK):
        held = await recipients.ids_by_digest(session, digests[start : start + IN_CHUNK])
        found.update((numbers[digest], rid) for digest, rid in held.items())
    return found


async def rekey_registered(session: AsyncSession, protector: IdProtector, id_number: str) -> None:
    """Call before registering: if this number is registered under a previous HMAC key only,
    move that row to the current key now, so that the registration meets it at the unique
    current digest instead of inserting a second recipient. Nothing to do (and no statement)
    with one HMAC key.

    On PostgreSQL two registrations of one number are serialized by advisory locks on its
    digests under every key, so that replicas whose current keys differ (during a rolling
    rotation) cannot each insert the person under their own key. SQLite takes the database's
    write lock at the start of every transaction (app/db/engine.py), which serializes them."""
    if not protector.has_previous_hmac_keys:
        return
    digests = protector.digests(id_number)
    for digest in sorted(digests):  # one order everywhere: no deadlock between two
        await advisory_xact_lock(session, digest_lock_key(digest))
    held = await recipients.ids_by_digest(session, digests)
    if not held or digests[0] in held:
        return
    # The first row found holding a previous digest (in the order of the keys).
    recipient_id = next(held[digest] for digest in digests if digest in held)
    await recipients.set_id_keys(session, recipient_id, digests[0], protector.encrypt(id_number))
