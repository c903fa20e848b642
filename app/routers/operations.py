"""Liveness, readiness and metrics for orchestrators and Prometheus."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from app.db.migrate import current_revision, head_revision

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    database: str
    migration: str | None
    expected_migration: str


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
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    expected = head_revision()
    revision: str | None = None
    try:
        async with asyncio.timeout(request.state.settings.db_connect_timeout_seconds):
            async with request.state.engine.connect() as connection:
                await connection.execution_options(read_only=True)
                await connection.execute(text("SELECT 1"))
                revision = await current_revision(connection)
        database = "ok"
    except Exception:  # any failure to reach the database means "not ready", never a 500
        database = "unreachable"
    ready = database == "ok" and revision == expected
    body = Readiness(
        ready=ready, database=database, migration=revision, expected_migration=expected
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    """Request counts and latencies by route template, in Prometheus text format."""
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
