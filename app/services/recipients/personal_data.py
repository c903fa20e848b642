"""Names and phone numbers sealed at rest (personal information under PIPL), like the ID number.

A recipient's name and phone and a home-visit request's contact phone are stored only as
AES-256-GCM ciphertexts under the ID encryption key ring (app/protection.py), so the same key
rotation and ``certsvc rekey`` cover them. Each is sealed for its column and row: the context
``<table>.<column>:<row id>`` is authenticated with it, so a ciphertext copied into another
column or row (the ID number's into a name, one person's phone into another's) does not open
there, and a database writer without the key cannot make the API reveal one value as another.

They are opened only by the service code that builds an answer for a role that gets them
(``recipients.to_read``, ``reporting.reminder_item``, ``home_visits.to_reads``). Everything
else (the engine, outreach's ``no_phone``) needs at most whether a phone exists, which the
column's NULL tells. Nothing searches by name or phone: a ciphertext cannot be searched, and
the contract (API.md) has no such search.
"""

from __future__ import annotations

import uuid
from typing import overload

from app.protection import IdProtector

# The column each context names. Stored ciphertexts depend on these strings: never change one.
RECIPIENT_NAME = "recipients.name"
RECIPIENT_PHONE = "recipients.phone"
CONTACT_PHONE = "home_visit_requests.contact_phone"
SEALED_FIELDS = (RECIPIENT_NAME, RECIPIENT_PHONE, CONTACT_PHONE)


def context(field: str, row_id: uuid.UUID) -> bytes:
    return f"{field}:{row_id}".encode()


@overload
def seal(protector: IdProtector, field: str, row_id: uuid.UUID, value: str) -> bytes: ...
@overload
def seal(protector: IdProtector, field: str, row_id: uuid.UUID, value: None) -> None: ...
@overload
def seal(
    protector: IdProtector, field: str, row_id: uuid.UUID, value: str | None
) -> bytes | None: ...
def seal(protector: IdProtector, field: str, row_id: uuid.UUID, value: str | None) -> bytes | None:
    """The ciphertext to store for ``value`` in ``field`` of row ``row_id`` (None stays None)."""
    return None if value is None else protector.encrypt(value, context(field, row_id))


@overload
def unseal(protector: IdProtector, field: str, row_id: uuid.UUID, blob: bytes) -> str: ...
@overload
def unseal(protector: IdProtector, field: str, row_id: uuid.UUID, blob: None) -> None: ...
@overload
def unseal(
    protector: IdProtector, field: str, row_id: uuid.UUID, blob: bytes | None
) -> str | None: ...
def unseal(protector: IdProtector, field: str, row_id: uuid.UUID, blob: bytes | None) -> str | None:
    """The value sealed in ``field`` of row ``row_id``. ValueError when no configured key
    opens it for that column and row (a key retired too early, a copied or damaged value)."""
    return None if blob is None else protector.decrypt(bytes(blob), context(field, row_id))


@overload
def reseal_if_changed(
    protector: IdProtector, field: str, row_id: uuid.UUID, stored: bytes | None, value: str
) -> bytes: ...
@overload
def reseal_if_changed(
    protector: IdProtector, field: str, row_id: uuid.UUID, stored: bytes | None, value: str | None
) -> bytes | None: ...
def reseal_if_changed(
    protector: IdProtector, field: str, row_id: uuid.UUID, stored: bytes | None, value: str | None
) -> bytes | None:
    """What to store for ``value`` where ``stored`` is: ``stored`` itself when it already holds
    ``value``, so that an unchanged registration writes nothing (a fresh nonce would make every
    ciphertext differ). A stored value no key opens is replaced."""
    if stored is None or value is None:
        return seal(protector, field, row_id, value)
    try:
        if unseal(protector, field, row_id, stored) == value:
            return stored
    except ValueError:
        pass
    return seal(protector, field, row_id, value)
