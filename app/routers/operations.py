"""Liveness, readiness and metrics for orchestrators and Prometheus."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from app.db.engine import read_only_session
from app.db.migrate import database_revision, head_revision
from app.deps import NowDep
from app.services.eligibility.policies import today
from app.services.suspension import calendar

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class CalendarReadiness(BaseModel):
    """How far the official holiday arrangements reach. A warning, not a failure: without an
    arrangement deadlines are still counted (statutory holidays and weekends), as provisional."""

    covered_through: date | None = Field(
        description="last day of the unbroken run of loaded years from today; null: none today"
    )
    next_days_covered: bool = Field(description="every one of the next `lookahead_days` is")
    uncovered_days: int = Field(description="of the next `lookahead_days`, those not covered")
    lookahead_days: int


class Readiness(BaseModel):
    ready: bool
    database: str
    migration: str | None
    expected_migration: str
    calendar: CalendarReadiness | None = Field(
        default=None, description="null when the database could not say"
    )


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is up. Says nothing about the database, so a database outage does not get
    every replica restarted."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready"}},
    summary="Readiness",
)
async def readyz(request: Request, now: NowDep) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    expected = head_revision()
    revision: str | None = None
    try:
        async with asyncio.timeout(request.state.settings.db_connect_timeout_seconds):
            revision = await database_revision(request.state.engine)
        database = "ok"
    except Exception:  # any failure to reach the database means "not ready", never a 500
        database = "unreachable"
    ready = database == "ok" and revision == expected
    body = Readiness(
        ready=ready,
        database=database,
        migration=revision,
        expected_migration=expected,
        calendar=await _calendar_readiness(request, now) if ready else None,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
async def metrics(request: Request, now: NowDep) -> Response:
    """Request counts and latencies by route template (every process of the host's, summed,
    in multiprocess mode), the days of the next 90 without an official holiday arrangement,
    and the backlog of payment runs, webhook deliveries and the sweep, in Prometheus text
    format (docs/deploy.md, "Metrics")."""
    await _calendar_readiness(request, now)
    replica = request.state.replica
    request.app.state.read_replica_in_use.set(1 if replica is not None and replica.well else 0)
    await request.app.state.backlog.refresh(
        request.state.engine, request.state.settings.db_connect_timeout_seconds
    )
    registry = request.app.state.scrape_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def _calendar_readiness(request: Request, now: datetime) -> CalendarReadiness | None:
    """The calendar's reach, also set as the metric; None when the database cannot say."""
    try:
        async with asyncio.timeout(request.state.settings.db_connect_timeout_seconds):
            async with read_only_session(request.state.engine) as session:
                coverage = await calendar.coverage(session, today(now))
    except Exception:  # a warning detail: its failure never fails readiness or a scrape
        return None
    request.app.state.calendar_uncovered_days.set(coverage.uncovered_days)
    return CalendarReadiness(
        covered_through=coverage.covered_through,
        next_days_covered=coverage.next_days_covered,
        uncovered_days=coverage.uncovered_days,
        lookahead_days=calendar.LOOKAHEAD_DAYS,
    )
