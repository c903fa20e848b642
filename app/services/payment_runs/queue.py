"""Payment runs computed by `certsvc worker` processes, any number on any host, instead of the
API process that accepted the request (CERTSVC_RUN_COMPUTE=worker; docs/deploy.md).

The queue is the ``payment_runs`` table itself: a worker reserves the oldest pending run nobody
computes yet (`run_claims.reserve`, a conditional update, so of several workers exactly one gets
it), or takes over a computing run whose lease ran out (`run_claims.take_over`, the same fence as
the API's), then computes it with the same code the API would (`payment_runs.compute_run`). A
worker killed mid-run stops beating; its run is taken over by the next worker pass after the
lease, and is completed only whole (run_claims.seal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import InterfaceError, OperationalError

from app.db.base import utcnow
from app.db.engine import SessionMaker
from app.db.runs import claims as run_claims
from app.db.runs import store as run_store
from app.db.runs.claims import RunClaim
from app.db.runs.source import RunSource
from app.domain.policy import PolicyBook
from app.services.accounts import audit
from app.services.payment_runs.runs import RunOptions, compute_run
from app.signals import stop_on_signals

logger = logging.getLogger("certsvc.run_queue")
# Runs looked at per pass: the oldest computing ones first.
_CANDIDATES = 20


async def claim_next(sessions: SessionMaker, options: RunOptions) -> RunClaim | None:
    """Reserve the oldest run waiting for a computation, or take over a stalled one; None when
    no run waits (or other workers got each first)."""
    lease_seconds = options.lease.total_seconds()
    async with sessions() as session, session.begin():
        for run in await run_store.computing_runs(session, _CANDIDATES):
            if run.status == "pending" and run.claimed_by is None:
                # Waiting since its request, however long: reserved, not taken over.
                claim = RunClaim(run.id, run.attempt, lease_seconds)
            elif run_claims.is_stale(run.heartbeat_at, options.lease):
                taken = await run_claims.take_over(session, run, options.lease)
                if taken is None:
                    continue
                claim = taken
                await audit.record(
                    session,
                    None,
                    "payment_run.taken_over",
                    "payment_run",
                    run.id,
                    utcnow(),
                    detail={"attempt": claim.attempt, "by": run_claims.CLAIMANT},
                )
            else:
                continue
            if await run_claims.reserve(session, claim):
                return claim
    return None


async def work_once(
    sessions: SessionMaker, source: RunSource, policies: PolicyBook, options: RunOptions
) -> int:
    """Compute waiting runs until none waits; how many were computed (completed or failed)."""
    computed = 0
    while (claim := await claim_next(sessions, options)) is not None:
        logger.info(
            "computing payment run",
            extra={"run_id": str(claim.run_id), "attempt": claim.attempt},
        )
        await compute_run(sessions, source, policies, claim, options)
        computed += 1
    return computed


async def run_worker(
    sessions: SessionMaker,
    source: RunSource,
    policies: PolicyBook,
    options: RunOptions,
    stop: asyncio.Event | None = None,
    *,
    poll_interval: float = 1.0,
) -> None:
    """`certsvc worker`: compute waiting runs until ``stop`` is set (by default, SIGTERM or
    SIGINT, after the run in flight). The database being down is waited out, not fatal."""
    stop, restore = (stop, None) if stop is not None else stop_on_signals()
    logger.info("payment run worker started", extra={"claimant": run_claims.CLAIMANT})
    try:
        while not stop.is_set():
            pause = poll_interval
            try:
                await work_once(sessions, source, policies, options)
            except (OperationalError, InterfaceError, OSError, TimeoutError) as exc:
                logger.warning("run worker: database unavailable: %s", type(exc).__name__)
                pause = max(poll_interval, 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
    finally:
        if restore is not None:
            restore()
        logger.info("payment run worker stopped")
