"""The backlog on /metrics: payment runs waiting and computing with their progress, webhook
deliveries not made and the oldest's age, and the days the sweep has reached; read from the
database at scrape time and kept a few seconds."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.backlog import backlog, sweep_reach
from app.db.base import utcnow
from app.db.engine import create_sessionmaker
from app.db.models import (
    Benefit,
    BenefitState,
    OutboxEvent,
    PaymentRun,
    Webhook,
    WebhookDelivery,
)
from app.domain.enums import Role
from app.metrics import BACKLOG_SECONDS, BacklogCollector
from app.services.accounts.clients import create_client
from tests.conftest import Api, Database
from tests.factories import benefit, recipient


async def _registered(api: Api) -> uuid.UUID:
    """A recipient with two benefits, registered through the API."""
    county = await api.new_client(Role.COUNTY, ("1404",))
    body = recipient(
        benefits=[benefit(), benefit(benefit_type="resident_pension", external_ref="P-2")]
    )
    answer = await county.post("/v1/recipients", json=body)
    assert answer.status_code == 201, answer.text
    return uuid.UUID(answer.json()["recipient_id"])


async def _a_backlog(session: AsyncSession, person: uuid.UUID, now: datetime) -> None:
    """Two runs waiting (the older 300 s), one computing (40 of 100 stored, its heartbeat
    30 s old), one completed; two deliveries pending (the older 600 s), one parked, one
    delivered; the person's benefits swept on 2026-12-01 and 2026-12-07."""
    client, _ = await create_client(session, f"backlog-{uuid.uuid4().hex[:8]}", Role.PAYMENT, ())

    def ago(seconds: int) -> datetime:
        return now - timedelta(seconds=seconds)

    runs = [
        ("pending", "1401", ago(300), None, 0, None),
        ("pending", "1402", ago(20), None, 0, None),
        ("running", "1403", ago(100), ago(30), 40, 100),
        ("completed", "1404", ago(900), ago(800), 7, 7),
    ]
    for status, agency, created, beat, items, planned in runs:
        session.add(
            PaymentRun(
                month="2026-12", agency_code=agency, generation=1, on=date(2026, 12, 1),
                known_at=created, status=status, requested_by=client.id, created_at=created,
                heartbeat_at=beat, items=items, planned_items=planned,
            )
        )  # fmt: skip
    hook = Webhook(
        url="https://receiver.example/hook", events=["suspended"], secret_ciphertext=b"x",
        regions=["1404"], client_id=client.id,
    )  # fmt: skip
    session.add(hook)
    await session.flush()
    for status, created in [
        ("pending", ago(600)), ("pending", ago(5)), ("parked", ago(3600)), ("delivered", ago(7200))
    ]:  # fmt: skip
        event = OutboxEvent(
            event_type="suspended", recipient_id=person, agency_code="140402", payload={},
            dedupe_key=f"backlog:{uuid.uuid4()}",
        )  # fmt: skip
        session.add(event)
        await session.flush()
        session.add(
            WebhookDelivery(
                event_id=event.id, webhook_id=hook.id, status=status, next_attempt_at=now,
                created_at=created,
            )
        )  # fmt: skip
    benefits = await session.scalars(select(Benefit.id).where(Benefit.recipient_id == person))
    for benefit_id, swept_on in zip(benefits, [date(2026, 12, 1), date(2026, 12, 7)], strict=True):
        session.add(
            BenefitState(
                benefit_id=benefit_id, status="certified", reason="certified", payable=True,
                swept_on=swept_on,
            )
        )  # fmt: skip
    await session.flush()


async def test_the_backlog_counts_only_what_is_still_in_play(
    api: Api, session: AsyncSession
) -> None:
    now = utcnow()
    await _a_backlog(session, await _registered(api), now)
    found = await backlog(session)
    assert {s: r.count for s, r in found.runs.items()} == {"pending": 2, "running": 1}
    running = found.runs["running"]
    assert (running.items, running.planned_items) == (40, 100)
    assert running.stalest_heartbeat_at == now - timedelta(seconds=30)
    assert found.runs["pending"].oldest_created_at == now - timedelta(seconds=300)
    assert {s: d.count for s, d in found.deliveries.items()} == {"pending": 2, "parked": 1}
    assert found.deliveries["pending"].oldest_created_at == now - timedelta(seconds=600)
    reach = await sweep_reach(session)
    assert (reach.earliest, reach.latest) == (date(2026, 12, 1), date(2026, 12, 7))


async def test_an_empty_database_has_no_backlog_and_no_sweep(session: AsyncSession) -> None:
    found = await backlog(session)
    assert found.runs["pending"].count == found.runs["running"].count == 0
    assert found.deliveries["pending"].oldest_created_at is None
    reach = await sweep_reach(session)
    assert reach.latest is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_metrics_show_the_backlog_and_keep_it_a_few_seconds(
    committing_api: Api, database: Database
) -> None:
    clock = Clock()
    collector: BacklogCollector = committing_api.fastapi.state.backlog
    collector.clock = clock
    person = await _registered(committing_api)
    admin = await committing_api.new_client(Role.ADMIN)
    before = (await admin.get("/metrics")).text
    assert 'certsvc_payment_runs{status="pending"} 0.0' in before
    assert "certsvc_sweep_latest_day_timestamp_seconds" not in before  # never swept
    async with create_sessionmaker(database.engine)() as session, session.begin():
        await _a_backlog(session, person, utcnow())
    kept = (await admin.get("/metrics")).text
    assert 'certsvc_payment_runs{status="pending"} 0.0' in kept  # within BACKLOG_SECONDS
    clock.now += BACKLOG_SECONDS
    text = (await admin.get("/metrics")).text
    assert 'certsvc_payment_runs{status="pending"} 2.0' in text
    assert 'certsvc_payment_runs{status="running"} 1.0' in text
    assert 'certsvc_payment_run_items_stored{status="running"} 40.0' in text
    assert 'certsvc_payment_run_items_planned{status="running"} 100.0' in text
    assert 'certsvc_webhook_deliveries{status="pending"} 2.0' in text
    assert 'certsvc_webhook_deliveries{status="parked"} 1.0' in text
    assert _value(text, 'certsvc_webhook_delivery_oldest_age_seconds{status="pending"}') >= 600
    assert 30 <= _value(text, "certsvc_payment_run_heartbeat_age_seconds") < 120
    # The sweep's reach is kept for minutes: still none here, the day after it is read again.
    assert "certsvc_sweep_latest_day_timestamp_seconds" not in text
    clock.now += 300
    swept = (await admin.get("/metrics")).text
    latest = datetime.fromisoformat("2026-12-07T00:00:00+08:00").timestamp()
    assert _value(swept, "certsvc_sweep_latest_day_timestamp_seconds") == latest


def _value(text: str, sample: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(sample + " "))
    return float(line.rsplit(" ", 1)[1])
