"""Rows built as mapped objects and written by a statement of their own (INSERT … ON CONFLICT)
rather than by the session's unit of work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from app.db.base import Base


def given_values(row: Base) -> dict[str, Any]:
    """The column values given to ``row`` (by its constructor or later), by attribute name;
    columns never given are left out, so their defaults apply as in a session's INSERT."""
    given = inspect(row).dict
    return {
        attribute.key: given[attribute.key]
        for attribute in inspect(type(row)).column_attrs
        if attribute.key in given
    }
