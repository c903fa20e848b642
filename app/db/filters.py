"""Reusable WHERE clauses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from app.domain.regions import prefix_bounds


def in_regions(column: Any, prefixes: Iterable[str]) -> ColumnElement[bool]:
    """``column`` starts with one of the prefixes, as index-friendly range comparisons."""
    return or_(*(and_(column >= low, column < high) for low, high in map(prefix_bounds, prefixes)))
