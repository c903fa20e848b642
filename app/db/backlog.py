"""What waits in the database, for the backlog gauges on /metrics (app/metrics.py): payment
runs waiting and computing, webhook deliveries not yet made, and how far the sweep has come.

Three aggregate statements. The first two read only the rows still in play (runs pending or
running: a handful; deliveries pending or parked, through ``ix_webhook_deliveries_due``). The
sweep's reads every benefit's stored standing (``benefit_states``, one row per benefit, no
index on ``swept_on``), so its caller keeps its answer for minutes, not seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BenefitState, PaymentRun, WebhookDelivery

RUN_STATUSES = ("pending", "running")
DELIVERY_STATUSES = ("pending", "parked")


@dataclass(frozen=True, slots=True)
class RunsInPlay:
    """The runs of one status: how many, their items stored and planned (planned is known once
    a computation has counted its snapshot), the oldest's creation, the stalest heartbeat."""

    count: int = 0
    items: int = 0
    planned_items: int = 0
    oldest_created_at: datetime | None = None
    stalest_heartbeat_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveriesWaiting:
    count: int = 0
    oldest_created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Backlog:
    runs: dict[str, RunsInPlay]  # by status: pending, running
    deliveries: dict[str, DeliveriesWaiting]  # by status: pending (to be tried), parked


@dataclass(frozen=True, slots=True)
class SweepReach:
    """The newest and oldest day any benefit was swept on (None: never swept). The sweep
    records no run of its own; every benefit it evaluates stores the day (``swept_on``)."""

    latest: date | None
    earliest: date | None


async def backlog(session: AsyncSession) -> Backlog:
    runs = await session.execute(
        select(
            PaymentRun.status,
            func.count(),
            func.coalesce(func.sum(PaymentRun.items), 0),
            func.coalesce(func.sum(PaymentRun.planned_items), 0),
            func.min(PaymentRun.created_at),
            func.min(PaymentRun.heartbeat_at),
        )
        .where(PaymentRun.status.in_(RUN_STATUSES))
        .group_by(PaymentRun.status)
    )
    deliveries = await session.execute(
        select(WebhookDelivery.status, func.count(), func.min(WebhookDelivery.created_at))
        .where(WebhookDelivery.status.in_(DELIVERY_STATUSES))
        .group_by(WebhookDelivery.status)
    )
    in_play = {status: RunsInPlay() for status in RUN_STATUSES}
    for status, count, items, planned, oldest, stalest in runs:
        in_play[status] = RunsInPlay(count, int(items or 0), int(planned or 0), oldest, stalest)
    waiting = {status: DeliveriesWaiting() for status in DELIVERY_STATUSES}
    for status, count, oldest in deliveries:
        waiting[status] = DeliveriesWaiting(count, oldest)
    return Backlog(in_play, waiting)


async def sweep_reach(session: AsyncSession) -> SweepReach:
    latest, earliest = (
        await session.execute(
            select(func.max(BenefitState.swept_on), func.min(BenefitState.swept_on))
        )
    ).one()
    return SweepReach(latest, earliest)
