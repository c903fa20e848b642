"""Opaque keyset cursors: an instant and an id, the position after which the next page starts."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

from app.errors import Unprocessable


def encode_cursor(instant: datetime, identifier: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{instant.isoformat()}|{identifier}".encode()).decode()


# Instants this service can have issued; anything else is forged and would only reach the
# database to fail there (PostgreSQL refuses dates before year 1 in UTC).
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text, identifier = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        instant = datetime.fromisoformat(text)
        if instant.tzinfo is None or not _EARLIEST <= instant <= _LATEST:
            raise ValueError("instant out of range")
        return instant, uuid.UUID(identifier)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise Unprocessable(
            "the cursor is not one this service issued", code="invalid_cursor"
        ) from None
