"""The daily sweep from `certsvc worker` processes (issue 18): once per Beijing day for the
whole deployment, however many workers run on however many hosts, at ``CERTSVC_SWEEP_AT``.

Each worker, once the day's time has come and until it knows the day swept, tries the day's
advisory lock without waiting (`app.db.locks.held_advisory_lock`, held by a transaction of
its own for the whole sweep). The one that gets it looks in the audit log for the day's
``sweep.completed`` entry, sweeps when there is none, and appends it when the sweep is
finished; the others try again at their next look. A worker that dies mid-sweep frees the lock
with its connection and leaves no entry, so the next worker to look sweeps the day again: the
sweep is idempotent (`app.services.suspension.sweep`: each transition is an event keyed by
what it is about, each overdue case by its benefit and validity), so the chunks the first one
committed announce nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from sqlalchemy.exc import InterfaceError, OperationalError

from app.db.base import utcnow
from app.db.engine import SessionMaker
from app.db.locks import held_advisory_lock
from app.domain.policy import PolicyBook
from app.services.accounts import audit
from app.services.eligibility.policies import SERVICE_TIMEZONE
from app.services.suspension.sweep import SweepSummary, sweep

logger = logging.getLogger("certsvc.daily_sweep")

SWEPT = "sweep.completed"
_RESOURCE = "sweep"
_LOCK_KEY = 0x535750  # "SWP", with the day's ordinal: the lock of one day's sweep
# After a sweep failed for another reason than the database being away (a bug, bad data):
# the other jobs of the worker go on, and the sweep is tried again this much later.
_RETRY_AFTER_FAILURE_SECONDS = 300.0


class Outcome(StrEnum):
    SWEPT = "swept"  # by this call
    ALREADY_SWEPT = "already_swept"  # the audit log says so
    BUSY = "busy"  # another worker holds the day's lock
    STOPPED = "stopped"  # the stop came mid-sweep; the day is left to the next look


@dataclass(frozen=True, slots=True)
class DaySweep:
    outcome: Outcome
    summary: SweepSummary | None = None


def due_day(now: datetime, sweep_at: time) -> date | None:
    """The Beijing day whose sweep is due at ``now``: today once its ``sweep_at`` (Beijing
    wall time) has come, None before."""
    local = now.astimezone(SERVICE_TIMEZONE)
    return local.date() if local.time() >= sweep_at else None


async def record_swept(sessions: SessionMaker, day: date, summary: SweepSummary, by: str) -> None:
    """Append the day's ``sweep.completed`` entry (counts only, no personal data)."""
    async with sessions() as session, session.begin():
        await audit.record(
            session,
            None,
            SWEPT,
            _RESOURCE,
            day.isoformat(),
            utcnow(),
            detail={
                "by": by,
                "benefits": summary.benefits,
                "events": summary.events,
                "cases_opened": summary.cases_opened,
            },
        )


async def was_swept(sessions: SessionMaker, day: date) -> bool:
    """Whether the whole deployment's sweep of ``day`` has been recorded (an entry written on
    or after the day's start in Beijing)."""
    since = datetime.combine(day, time(0), SERVICE_TIMEZONE).astimezone(UTC)
    async with sessions() as session, session.begin():
        return await audit.recorded(session, SWEPT, _RESOURCE, day.isoformat(), since)


async def sweep_day_once(
    sessions: SessionMaker, policies: PolicyBook, day: date, stop: asyncio.Event | None = None
) -> DaySweep:
    """Sweep ``day`` for the whole deployment unless it has been swept or another worker is
    sweeping it now."""
    async with held_advisory_lock(sessions, _LOCK_KEY, day.toordinal()) as held:
        if not held:
            return DaySweep(Outcome.BUSY)
        if await was_swept(sessions, day):
            return DaySweep(Outcome.ALREADY_SWEPT)
        logger.info("daily sweep started", extra={"day": day.isoformat()})
        summary = await sweep(sessions, policies, day, stop=stop)
        if not summary.finished:
            return DaySweep(Outcome.STOPPED, summary)
        await record_swept(sessions, day, summary, "worker")
        logger.info(
            "daily sweep completed",
            extra={"day": day.isoformat(), "benefits": summary.benefits, "events": summary.events},
        )
        return DaySweep(Outcome.SWEPT, summary)


def _now() -> datetime:
    return datetime.now(UTC)


async def run_daily_sweep(
    sessions: SessionMaker,
    policies: PolicyBook,
    sweep_at: time,
    stop: asyncio.Event,
    *,
    poll_interval: float = 1.0,
    now: Callable[[], datetime] = _now,
) -> None:
    """A worker's sweep job: every ``poll_interval`` seconds, sweep the day if its time has
    come and this worker does not know it swept yet, until ``stop`` is set (a sweep in flight
    ends after its chunk). The database being down is waited out; another failure is logged
    and the sweep tried again later, so that it never takes the worker's other jobs down."""
    known_swept: date | None = None
    logger.info("daily sweep job started", extra={"sweep_at": sweep_at.isoformat()})
    try:
        while not stop.is_set():
            pause = poll_interval
            day = due_day(now(), sweep_at)
            if day is not None and day != known_swept:
                try:
                    done = await sweep_day_once(sessions, policies, day, stop)
                except (OperationalError, InterfaceError, OSError, TimeoutError) as exc:
                    logger.warning("daily sweep: database unavailable: %s", type(exc).__name__)
                    pause = max(poll_interval, 5.0)
                except Exception:
                    logger.exception("daily sweep failed", extra={"day": day.isoformat()})
                    pause = max(poll_interval, _RETRY_AFTER_FAILURE_SECONDS)
                else:
                    if done.outcome in (Outcome.SWEPT, Outcome.ALREADY_SWEPT):
                        known_swept = day
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
    finally:
        logger.info("daily sweep job stopped")


__all__ = [
    "SWEPT",
    "DaySweep",
    "Outcome",
    "due_day",
    "record_swept",
    "run_daily_sweep",
    "sweep_day_once",
    "was_swept",
]
