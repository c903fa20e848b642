"""What the stored payment runs did, read for a run that reconciles its back pay against them
(app/domain/run_back_pay.py, docs/policy.md §7.5).

The runs that count for a run of month N and agency scope S, as known at its ``known_at``: for
each month before N, the newest generation of S that was completed by ``known_at`` (a re-run
replaces an older one; a run completed later is invisible, so a takeover reproduces the same
items). Of their items only those that were not a plain payment are read, through a partial
index (withheld or stopped, or listing back pay): a plain payment is known without a row, as
"registered by that run's ``known_at`` and not withheld". SQLAlchemy Core for SQLite (and
PostgreSQL's small path), asyncpg for PostgreSQL's span reader; the same rows either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import Text, cast, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import PaymentRun, PaymentRunItem
from app.domain.months import Month
from app.domain.run_back_pay import RunLedger, StoredRuns

# Bound parameters per IN list on SQLite.
_IN_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class PriorRuns:
    """The stored runs that count, by month (`StoredRuns`), and each one's month by run id."""

    stored: StoredRuns = field(default_factory=StoredRuns)
    months: dict[str, int] = field(default_factory=dict)


def _prior(rows: Iterable[Any]) -> PriorRuns:
    """From (id, month, known_at) rows ordered by month, then generation: the last per month."""
    newest: dict[int, tuple[str, datetime]] = {}
    for run_id, month, known_at in rows:
        newest[Month.parse(month).index] = (str(run_id), known_at)
    return PriorRuns(
        StoredRuns({month: known for month, (_, known) in newest.items()}),
        {run_id: month for month, (run_id, _) in newest.items()},
    )


def _fold(prior: PriorRuns, rows: Iterable[Any], into: dict[str, RunLedger]) -> None:
    """Add (benefit_id, run_id, payable, back_pay_months as JSON text) rows to the ledgers."""
    months = prior.months
    for benefit_id, run_id, payable, back_pay in rows:
        ledger = into.get(str(benefit_id))
        if ledger is None:
            ledger = into[str(benefit_id)] = RunLedger()
        if not payable:
            ledger.withheld.add(months[str(run_id)])
        for text in orjson.loads(back_pay):
            ledger.paid_back.add(Month.parse(text).index)


# --- SQLAlchemy Core ----------------------------------------------------------------------


async def prior_runs(
    connection: AsyncConnection, agency_code: str, month: Month, known_at: datetime
) -> PriorRuns:
    rows = await connection.execute(
        select(PaymentRun.id, PaymentRun.month, PaymentRun.known_at)
        .where(
            PaymentRun.agency_code == agency_code,
            PaymentRun.month < str(month),
            PaymentRun.status == "completed",
            PaymentRun.completed_at <= known_at,
        )
        .order_by(PaymentRun.month, PaymentRun.generation)
    )
    return _prior(rows)


async def ledgers(
    connection: AsyncConnection, prior: PriorRuns, benefit_ids: Sequence[str]
) -> dict[str, RunLedger]:
    """The ledgers of these benefits (only those the stored runs did not simply pay)."""
    found: dict[str, RunLedger] = {}
    if not prior.months:
        return found
    runs = [uuid.UUID(run_id) for run_id in prior.months]
    item = PaymentRunItem
    for start in range(0, len(benefit_ids), _IN_CHUNK):
        part = [uuid.UUID(bid) for bid in benefit_ids[start : start + _IN_CHUNK]]
        rows = await connection.execute(
            select(
                item.benefit_id, item.run_id, item.payable, cast(item.back_pay_months, Text)
            ).where(
                item.benefit_id.in_(part),
                item.run_id.in_(runs),
                or_(not_(item.payable), cast(item.back_pay_months, Text) != "[]"),
            )
        )
        _fold(prior, rows, found)
    return found


# --- asyncpg (PostgreSQL's span reader) ---------------------------------------------------

_PRIOR = """
SELECT id, month, known_at FROM payment_runs
WHERE agency_code = $1 AND month < $2 AND status = 'completed' AND completed_at <= $3
ORDER BY month, generation
"""
# The condition is the partial index's (ix_payment_run_items_unsettled), so the index serves it.
_LEDGERS = """
SELECT benefit_id, run_id, payable, back_pay_months::text FROM payment_run_items
WHERE benefit_id = ANY($1::uuid[]) AND run_id = ANY($2::uuid[])
  AND (NOT payable OR back_pay_months::text <> '[]')
"""


async def prior_runs_raw(
    connection: asyncpg.Connection, agency_code: str, month: Month, known_at: datetime
) -> PriorRuns:
    return _prior(await connection.fetch(_PRIOR, agency_code, str(month), known_at))


async def ledgers_raw(
    connection: asyncpg.Connection, prior: PriorRuns, benefit_ids: Sequence[str]
) -> dict[str, RunLedger]:
    """`ledgers` in one statement for a span's benefits."""
    found: dict[str, RunLedger] = {}
    if prior.months:
        rows = await connection.fetch(_LEDGERS, list(benefit_ids), list(prior.months))
        _fold(prior, rows, found)
    return found
