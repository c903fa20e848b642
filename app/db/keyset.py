"""Keyset pagination, written once.

Listings ordered by (an instant, an id) are cut into pages by an opaque cursor that names the
last row served (API.md: ``?limit=N&cursor=C`` answered with ``next_cursor``). A listing
declares its `Keyset`; the query gets the cursor's condition, the order and ``limit + 1`` from
`Keyset.query`, and `Keyset.cut` returns the page and the next cursor (None on the last page).

Walks over many rows in constant memory (the sweep, reminders and statistics over a region's
recipients, `certsvc rekey` over whole tables) take one chunk at a time in the order of one
key, after the last key seen (`next_chunk`); a listing that serves pages of such a walk names
its position by a pair of ids (`encode_ids`)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, QueryableAttribute

from app.errors import Unprocessable

Row = TypeVar("Row")
Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])
Key = TypeVar("Key")


def next_chunk(
    query: Query,
    key: QueryableAttribute[Key],
    after: Key | None,
    limit: int,
    *,
    inclusive: bool = False,
) -> Query:
    """The ``limit`` rows of ``query`` that follow ``after`` in ``key`` order (from ``after``
    itself when ``inclusive``; from the start when None)."""
    if after is not None:
        query = query.where(key >= after if inclusive else key > after)
    return query.order_by(key).limit(limit)


def encode_cursor(instant: datetime, identifier: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{instant.isoformat()}|{identifier}".encode()).decode()


# Instants this service can have issued; anything else is forged and would only reach the
# database to fail there (PostgreSQL refuses dates before year 1 in UTC).
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text, identifier = _parts(cursor)
        instant = datetime.fromisoformat(text)
        if instant.tzinfo is None or not _EARLIEST <= instant <= _LATEST:
            raise ValueError("instant out of range")
        return instant, uuid.UUID(identifier)
    except (ValueError, OverflowError):
        raise _forged() from None


def encode_ids(first: uuid.UUID, second: uuid.UUID) -> str:
    """A cursor naming a position by two ids (a recipient and one of its benefits)."""
    return base64.urlsafe_b64encode(f"{first}|{second}".encode()).decode()


def decode_ids(cursor: str) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        first, second = _parts(cursor)
        return uuid.UUID(first), uuid.UUID(second)
    except ValueError:
        raise _forged() from None


def _parts(cursor: str) -> list[str]:
    """The ``|``-separated parts of a cursor; ValueError when it is not base64 text."""
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor") from exc


def _forged() -> Unprocessable:
    return Unprocessable("the cursor is not one this service issued", code="invalid_cursor")


@dataclass(frozen=True, slots=True)
class Keyset:
    """The order of a listing: by ``instant`` then ``ident``, oldest or newest first."""

    instant: InstrumentedAttribute[datetime]
    ident: InstrumentedAttribute[uuid.UUID]
    newest_first: bool = False

    def query(self, query: Query, limit: int, cursor: str | None) -> Query:
        """``query`` from after the cursor's row, in this order, one row more than a page
        (that row only says whether another page follows)."""
        if cursor is not None:
            position = tuple_(self.instant, self.ident)
            after = tuple_(*decode_cursor(cursor))
            query = query.where(position < after if self.newest_first else position > after)
        if self.newest_first:
            order = (self.instant.desc(), self.ident.desc())
        else:
            order = (self.instant.asc(), self.ident.asc())
        return query.order_by(*order).limit(limit + 1)

    def cut(
        self,
        rows: Sequence[Row],
        limit: int,
        entity: Callable[[Row], Any] = lambda row: row,
    ) -> tuple[list[Row], str | None]:
        """The page among ``rows`` (from `query`) and the cursor of the next one. ``entity``
        finds the mapped object in a row when the query selects more than one thing."""
        page = list(rows[:limit])
        if len(rows) <= limit:
            return page, None
        last = entity(page[-1])
        return page, encode_cursor(getattr(last, self.instant.key), getattr(last, self.ident.key))
