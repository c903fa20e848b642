"""Keyset pagination, written once: listings ordered by (an instant, an id), cut into pages by
an opaque cursor that names the last row served (API.md: ``?limit=N&cursor=C`` answered with
``next_cursor``). A listing declares its `Keyset`; the query gets the cursor's condition, the
order and ``limit + 1`` from `Keyset.query`, and `Keyset.cut` returns the page and the next
cursor (None on the last page). A batch job walking a table by primary key uses `after_id`."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from app.errors import Unprocessable

Row = TypeVar("Row")
Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])


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


def after_id(
    query: Query, ident: InstrumentedAttribute[uuid.UUID], after: uuid.UUID | None, limit: int
) -> Query:
    """``query`` in ``ident`` order from after the row ``after`` (from the first without one),
    at most ``limit`` rows: the walk of a batch job in primary-key order, resumable from the
    last id it reported (``certsvc rekey``), no cursor involved."""
    if after is not None:
        query = query.where(ident > after)
    return query.order_by(ident).limit(limit)
