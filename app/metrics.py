"""What /metrics serves: this process's counters, or with prometheus_client's multiprocess
mode every process's of the host summed, and the backlog read from the database at scrape
time (docs/deploy.md, "Metrics").

Multiprocess mode is prometheus_client's own: with ``PROMETHEUS_MULTIPROC_DIR`` set in the
environment before the process starts, every process (each uvicorn worker, ``certsvc worker``,
``certsvc deliver``) writes its counters and histograms to files there, and a scrape of any API
process sums them all, those of processes that have exited included (counters never go back).

The backlog gauges are computed in the scraping process from a few aggregates
(app/db/backlog.py), kept a few seconds so that a storm of scrapes costs one read; the sweep's
reach, which reads a row per benefit, is kept for minutes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import backlog as stored
from app.db.engine import read_only_session
from app.settings import SettingsError

log = logging.getLogger("certsvc.metrics")

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
BACKLOG_SECONDS = 5.0
SWEEP_SECONDS = 300.0
BEIJING = timezone(timedelta(hours=8))


class MetricsSetupError(SettingsError):
    """The multiprocess directory is named but unusable; the message is one line."""


def multiprocess_dir() -> Path | None:
    """The directory of multiprocess mode, or None when each process serves its own."""
    named = os.environ.get(MULTIPROCESS_VARIABLE) or os.environ.get(MULTIPROCESS_VARIABLE.lower())
    if not named:
        return None
    folder = Path(named)
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise MetricsSetupError(
            f"{MULTIPROCESS_VARIABLE}={named} is not a writable directory: create it, empty, "
            "before the host's processes start"
        )
    return folder


def scrape_registry(own: CollectorRegistry, *collectors: Collector) -> CollectorRegistry:
    """What a scrape reads: ``own`` (this process's metrics) in single-process mode; in
    multiprocess mode a registry of every process's files instead (``own``'s metrics are in
    them too). ``collectors`` compute at scrape time, in the scraping process only."""
    if multiprocess_dir() is None:
        registry = own
    else:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    for collector in collectors:
        registry.register(collector)
    return registry


class BacklogCollector(Collector):
    """The backlog gauges, from the last reading `refresh` made (none before the first, or
    when the database could not say: a gauge that is absent is not a gauge that is zero)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        self.wall = wall
        self._lock = asyncio.Lock()
        self._backlog: stored.Backlog | None = None
        self._sweep: stored.SweepReach | None = None
        self._backlog_read: float | None = None
        self._sweep_read: float | None = None

    async def refresh(self, engine: AsyncEngine, within_seconds: float) -> None:
        """Read again what is older than its time to live; concurrent scrapes wait for one
        reading rather than each making its own."""
        async with self._lock:
            backlog_due = self._due(self._backlog_read, BACKLOG_SECONDS)
            sweep_due = self._due(self._sweep_read, SWEEP_SECONDS)
            if not (backlog_due or sweep_due):
                return
            now = self.clock()
            try:
                async with asyncio.timeout(within_seconds), read_only_session(engine) as session:
                    if backlog_due:
                        self._backlog_read, self._backlog = now, None
                        self._backlog = await stored.backlog(session)
                    if sweep_due:
                        self._sweep_read, self._sweep = now, None
                        self._sweep = await stored.sweep_reach(session)
            except Exception as exc:  # a scrape answers without the backlog, never a 500
                log.warning("backlog not read for /metrics", extra={"error": type(exc).__name__})

    def _due(self, read_at: float | None, ttl: float) -> bool:
        return read_at is None or self.clock() - read_at >= ttl

    def collect(self) -> Iterable[Metric]:
        now = self.wall()
        if self._backlog is not None:
            yield from _runs(self._backlog.runs, now)
            yield from _deliveries(self._backlog.deliveries, now)
        if self._sweep is not None:
            yield from _sweep(self._sweep)


def _age(since: datetime | None, now: datetime) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())


def _runs(runs: dict[str, stored.RunsInPlay], now: datetime) -> Iterable[Metric]:
    count = GaugeMetricFamily(
        "certsvc_payment_runs",
        "Payment runs waiting (pending) or computing (running).",
        labels=["status"],
    )
    stored_items = GaugeMetricFamily(
        "certsvc_payment_run_items_stored",
        "Benefits decided and stored so far, summed over the runs of the status.",
        labels=["status"],
    )
    planned = GaugeMetricFamily(
        "certsvc_payment_run_items_planned",
        "Benefits in the snapshots of the runs of the status, once counted: progress is "
        "stored / planned.",
        labels=["status"],
    )
    oldest = GaugeMetricFamily(
        "certsvc_payment_run_oldest_age_seconds",
        "Seconds since the oldest run of the status was requested (0: none).",
        labels=["status"],
    )
    for status, inplay in runs.items():
        count.add_metric([status], inplay.count)
        stored_items.add_metric([status], inplay.items)
        planned.add_metric([status], inplay.planned_items)
        oldest.add_metric([status], _age(inplay.oldest_created_at, now))
    heartbeat = GaugeMetricFamily(
        "certsvc_payment_run_heartbeat_age_seconds",
        "Seconds since the stalest running computation beat (0: none running); past "
        "CERTSVC_RUN_LEASE_SECONDS the next request for its run takes it over.",
        value=_age(runs["running"].stalest_heartbeat_at, now),
    )
    yield from (count, stored_items, planned, oldest, heartbeat)


def _deliveries(deliveries: dict[str, stored.DeliveriesWaiting], now: datetime) -> Iterable[Metric]:
    count = GaugeMetricFamily(
        "certsvc_webhook_deliveries",
        "Webhook deliveries not made: pending (to be tried) or parked (given up on until "
        "re-driven).",
        labels=["status"],
    )
    oldest = GaugeMetricFamily(
        "certsvc_webhook_delivery_oldest_age_seconds",
        "Seconds since the oldest delivery of the status was queued (0: none).",
        labels=["status"],
    )
    for status, waiting in deliveries.items():
        count.add_metric([status], waiting.count)
        oldest.add_metric([status], _age(waiting.oldest_created_at, now))
    yield from (count, oldest)


def _midnight_in_beijing(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING).timestamp()


def _sweep(reach: stored.SweepReach) -> Iterable[Metric]:
    if reach.latest is None or reach.earliest is None:
        return
    yield GaugeMetricFamily(
        "certsvc_sweep_latest_day_timestamp_seconds",
        "The newest day the sweep evaluated any benefit on, as 00:00 Beijing time (Unix).",
        value=_midnight_in_beijing(reach.latest),
    )
    yield GaugeMetricFamily(
        "certsvc_sweep_earliest_day_timestamp_seconds",
        "The oldest day some benefit was last swept on, as 00:00 Beijing time (Unix): a "
        "region whose daily sweep stopped holds it back.",
        value=_midnight_in_beijing(reach.earliest),
    )
