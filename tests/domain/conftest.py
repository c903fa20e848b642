"""The policies as shipped, for the domain tests that take them as fixtures."""

from __future__ import annotations

import pytest

from app.domain.policy import Policy, PolicyBook, load_policies


@pytest.fixture(scope="module")
def book() -> PolicyBook:
    return load_policies()


@pytest.fixture(scope="module")
def shanxi(book: PolicyBook) -> Policy:
    return book.get("shanxi-2026")


@pytest.fixture(scope="module")
def hunan(book: PolicyBook) -> Policy:
    return book.get("hunan-2026")
