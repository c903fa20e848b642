"""What a `certsvc worker` process runs (issue 18): payment runs, webhook deliveries and the
daily sweep, each a task of one asyncio loop, on one runtime, until SIGTERM or SIGINT stops
them all (each after the work in flight: a run, a delivery pass, a sweep's chunk). Any number
of workers may run on any host; an operator can still dedicate processes to some jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.runtime import Runtime

logger = logging.getLogger("certsvc.worker")


class Job(StrEnum):
    RUNS = "runs"  # compute payment runs (app/services/payment_runs/queue.py)
    DELIVER = "deliver"  # post webhook events (app/services/notices/delivery.py)
    SWEEP = "sweep"  # the daily sweep (app/services/suspension/daily.py)


async def run_jobs(
    runtime: Runtime, jobs: Collection[Job], stop: asyncio.Event, *, poll_interval: float = 1.0
) -> None:
    """Run ``jobs`` concurrently until ``stop`` is set. A job that fails unexpectedly ends the
    others too (the process exits with the error, for its supervisor to restart it)."""
    # Here, not at the top: every `certsvc` command's parser reads `Job`, and only a worker
    # needs the jobs themselves.
    from app.services.notices import delivery
    from app.services.payment_runs.queue import run_worker as run_payment_runs
    from app.services.payment_runs.runs import RunOptions
    from app.services.suspension.daily import run_daily_sweep

    logger.info("worker started", extra={"jobs": sorted(jobs)})
    async with asyncio.TaskGroup() as group:
        if Job.RUNS in jobs:
            options = RunOptions.of(runtime.settings, worker=True)
            group.create_task(
                run_payment_runs(
                    runtime.sessions,
                    runtime.runs,
                    runtime.policies,
                    options,
                    stop,
                    poll_interval=poll_interval,
                )
            )
        if Job.DELIVER in jobs:
            group.create_task(
                delivery.run_worker(
                    runtime.sessions,
                    runtime.protector,
                    runtime.settings,
                    stop,
                    poll_interval=poll_interval,
                )
            )
        if Job.SWEEP in jobs:
            group.create_task(
                run_daily_sweep(
                    runtime.sessions,
                    runtime.policies,
                    runtime.settings.sweep_at,
                    stop,
                    poll_interval=poll_interval,
                )
            )
    logger.info("worker stopped")
