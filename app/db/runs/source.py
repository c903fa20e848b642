"""How a payment run reads its input and stores its items, whatever the database: a
`RunSource` opens a `RunReading` on one consistent state of the database, which yields the
run's pages of whole recipients with their facts and stores each decided page, fenced by the
computation's claim (app/db/runs/claims.py). `app.db.runs.run_source` picks the
implementation for the engine, once; services never ask which database they run on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from app.db.runs.claims import RunClaim
from app.db.runs.ledger import PriorRuns
from app.db.runs.rows import Chunk, ItemRecord, Scope
from app.domain.events import MoratoriumFact
from app.domain.months import Month

if TYPE_CHECKING:
    from app.db.runs.postgresql import RunInput, Span


@dataclass(frozen=True, slots=True)
class RunPage:
    """Page ``page`` of a run: the benefits of ``chunk`` (``items`` of them), whose items are
    numbered from ``first_seq``."""

    page: int
    first_seq: int
    items: int
    chunk: Chunk


@dataclass(frozen=True, slots=True)
class FanOut:
    """What other processes need to read the same run on their own connections (PostgreSQL):
    the database, the exported snapshot, the run's shared input and its planned spans."""

    dsn: str
    snapshot: str
    run: RunInput
    spans: Sequence[Span]
    pooled: bool  # behind a transaction-mode pooler: no asyncpg statement cache


class RunReading(Protocol):
    """One run's input, read in one database state, and where its pages are stored."""

    @property
    def planned(self) -> int:
        """The benefits in scope in that state: what the run's seal will demand."""

    @property
    def moratoria(self) -> Sequence[MoratoriumFact]: ...

    @property
    def prior(self) -> PriorRuns:
        """The stored runs its back pay is reconciled against."""

    @property
    def fan_out(self) -> FanOut | None:
        """How other processes read the same run, where they can (else None)."""

    def pages(self) -> AsyncIterator[RunPage]: ...

    async def store(
        self, claim: RunClaim, page: RunPage, body: bytes, records: list[ItemRecord]
    ) -> None:
        """Store a decided page and its items if ``claim`` still holds (ClaimLost if not)."""


class RunSource(Protocol):
    def reading(
        self, scope: Scope, month: Month, span_benefits: int
    ) -> AbstractAsyncContextManager[RunReading]: ...
