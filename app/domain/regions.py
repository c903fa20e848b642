"""Region prefixes (GB/T 2260 division-code prefixes) and what a client may touch."""

from __future__ import annotations

import re
from collections.abc import Iterable

AGENCY_CODE = re.compile(r"^[1-9]\d{5}$", re.ASCII)
REGION_PREFIX = re.compile(r"^[1-9]\d(\d{2}){0,2}$", re.ASCII)


def province_of(code: str) -> str:
    return code[:2]


def within(code: str, prefixes: Iterable[str]) -> bool:
    return any(code.startswith(prefix) for prefix in prefixes)


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """The half-open range [low, high) of codes that start with prefix: a B-tree range scan
    that works on every collation, unlike LIKE 'prefix%'."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)
