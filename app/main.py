"""The application factory and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access import verify_routes
from app.auth import PrincipalCache
from app.db.engine import SessionMaker
from app.db.read_pool import ReadPool
from app.db.replica import Replica
from app.db.runs.source import RunSource
from app.deps import get_principal, get_reading_call
from app.domain.policy import PolicyBook, load_policies
from app.errors import install_error_handlers
from app.metrics import BacklogCollector, scrape_registry
from app.middleware import BodyLimitMiddleware, HttpMetrics, RequestContextMiddleware
from app.protection import IdProtector, load_id_protector
from app.ratelimit import (
    AuthFailureLimiter,
    LimitStore,
    RateLimiter,
    open_storage,
    storage_errors,
)
from app.routers import (
    audit,
    cases,
    ceiling,
    certifications,
    eligibility,
    home_visits,
    operations,
    payments,
    recipients,
    reporting,
    stops,
    webhooks,
)
from app.runtime import Runtime
from app.schemas.common import state_non_blank
from app.services.notices.egress import EgressPolicy
from app.settings import Settings, get_settings


class State(TypedDict):
    """What every request can reach through ``request.state``."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: SessionMaker
    protector: IdProtector
    policies: PolicyBook
    read_pool: ReadPool | None  # PostgreSQL only: hot single-statement reads
    runs: RunSource  # how payment runs read and store on this database
    replica: Replica | None  # CERTSVC_READ_DATABASE_URL: eligibility reads


def create_app(
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
    policies: PolicyBook | None = None,
) -> FastAPI:
    """Build the app. Nothing connects here: the lifespan opens the engine, and disposes of it
    unless the caller passed one in (tests share an engine across apps)."""
    settings = settings or get_settings()
    protector = load_id_protector(settings)
    # A bad policy file stops start-up here, with a message naming the file and field.
    policies = policies or load_policies()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        async with Runtime.open(
            settings, engine=engine, policies=policies, protector=protector, read_pool=True
        ) as runtime:
            yield State(
                settings=runtime.settings,
                engine=runtime.engine,
                sessionmaker=runtime.sessions,
                protector=runtime.protector,
                policies=runtime.policies,
                read_pool=runtime.read_pool,
                runs=runtime.runs,
                replica=runtime.replica,
            )

    app = FastAPI(
        title="certsvc",
        version="1.0.0",
        summary="Benefit-eligibility (survival) certification for social-insurance agencies",
        lifespan=lifespan,
    )
    app.state.registry = CollectorRegistry()
    app.state.calendar_uncovered_days = Gauge(
        "certsvc_calendar_uncovered_days",
        "Days of the next 90 without an official holiday arrangement (/readyz: calendar)",
        registry=app.state.registry,
        multiprocess_mode="mostrecent",  # every process reads the same calendar
    )
    app.state.read_replica_in_use = Gauge(
        "certsvc_read_replica_in_use",
        "1 while this process reads eligibility from the read replica (CERTSVC_READ_DATABASE_URL), "
        "0 while the primary answers in its place; 0 without a replica",
        registry=app.state.registry,
        multiprocess_mode="livemax",  # any live process of the host that reads it
    )
    app.state.backlog = BacklogCollector()
    # What /metrics serves: this process's registry, or every process's of the host.
    app.state.scrape_registry = scrape_registry(app.state.registry, app.state.backlog)
    # One storage for both limits: this process's memory, or the Redis every replica shares.
    limits = LimitStore(
        open_storage(settings.rate_limit_storage, settings.rate_limit_storage_timeout_seconds),
        errors=storage_errors(app.state.registry),
    )
    app.state.rate_limiter = RateLimiter(settings.rate_limits, store=limits)
    app.state.auth_failures = AuthFailureLimiter(
        settings.auth_failures_per_address, settings.auth_failure_window_seconds, store=limits
    )
    app.state.principal_cache = PrincipalCache()
    # Where new webhooks' receivers may not be; this host's addresses are read once, here.
    app.state.egress = EgressPolicy.from_settings(settings)
    install_error_handlers(app)
    # Added last, runs first: the request id is bound before anything else happens.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=HttpMetrics(app.state.registry))
    if settings.bench_ceiling:
        # First, so that matching it costs nothing: the ceiling must be the cheapest read.
        app.include_router(ceiling.router)
    # In this order: it is the order of the OpenAPI document's paths.
    for routes in (
        eligibility, operations, recipients, certifications, stops, cases, payments, webhooks,
        reporting, home_visits, audit,
    ):  # fmt: skip
        app.include_router(routes.router)
    # Refuse to start when a route and the access table disagree (app/access.py).
    verify_routes(app.routes, guards=(get_principal, get_reading_call))
    _state_non_blank_text(app)
    return app


def _state_non_blank_text(app: FastAPI) -> None:
    """The OpenAPI document says which text may not be blank (app/schemas/common.py)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = state_non_blank(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
