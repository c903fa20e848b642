"""Sealing names and phones: a value opens only in the column and row it was sealed for."""

from __future__ import annotations

import uuid

import pytest

from app.protection import IdKey, IdProtector
from app.services.recipients.personal_data import (
    CONTACT_PHONE,
    RECIPIENT_NAME,
    RECIPIENT_PHONE,
    reseal_if_changed,
    seal,
    unseal,
)
from tests.factories import id_number

UNNAMED = IdProtector(
    hmac_keys=(IdKey(None, b"h" * 32),), encryption_keys=(IdKey(None, b"e" * 32),)
)
NAMED = IdProtector(
    hmac_keys=(IdKey(None, b"h" * 32),),
    encryption_keys=(IdKey("e2", b"f" * 32), IdKey("e1", b"e" * 32)),
)


@pytest.mark.parametrize("protector", [UNNAMED, NAMED], ids=["unnamed key", "named key"])
def test_a_sealed_value_opens_only_in_its_own_column_and_row(protector: IdProtector) -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    blob = seal(protector, RECIPIENT_PHONE, mine, "13800000000")
    assert unseal(protector, RECIPIENT_PHONE, mine, blob) == "13800000000"
    for field, row in ((RECIPIENT_PHONE, other), (CONTACT_PHONE, mine), (RECIPIENT_NAME, mine)):
        with pytest.raises(ValueError, match="opens with none"):
            unseal(protector, field, row, blob)
    with pytest.raises(ValueError, match="opens with none"):
        protector.decrypt(blob)  # nor as an ID number, without its context
    # And the ID number's ciphertext, copied into a name column, does not open there.
    with pytest.raises(ValueError, match="opens with none"):
        unseal(protector, RECIPIENT_NAME, mine, protector.encrypt(id_number()))


def test_a_previous_key_still_opens_what_it_sealed() -> None:
    row = uuid.uuid4()
    blob = seal(UNNAMED, RECIPIENT_NAME, row, "王秀英")
    assert unseal(NAMED, RECIPIENT_NAME, row, blob) == "王秀英"
    assert not NAMED.sealed_with_current_key(blob)


def test_resealing_keeps_an_unchanged_value_and_replaces_a_changed_or_unreadable_one() -> None:
    row = uuid.uuid4()
    blob = seal(UNNAMED, RECIPIENT_PHONE, row, "13800000000")
    assert reseal_if_changed(UNNAMED, RECIPIENT_PHONE, row, blob, "13800000000") is blob
    changed = reseal_if_changed(UNNAMED, RECIPIENT_PHONE, row, blob, "13900000000")
    assert unseal(UNNAMED, RECIPIENT_PHONE, row, changed) == "13900000000"
    assert reseal_if_changed(UNNAMED, RECIPIENT_PHONE, row, blob, None) is None
    damaged = blob[:-1] + bytes([blob[-1] ^ 1])
    replaced = reseal_if_changed(UNNAMED, RECIPIENT_PHONE, row, damaged, "13800000000")
    assert unseal(UNNAMED, RECIPIENT_PHONE, row, replaced) == "13800000000"
