"""The payment system's side: batch checks and payment runs."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Request, Response, status
from fastapi.responses import StreamingResponse

from app.deps import (
    NowDep,
    PoliciesDep,
    PrincipalDep,
    ProtectorDep,
    SessionDep,
    SettingsDep,
    reads_only,
)
from app.routers.responses import problems
from app.schemas.payments import (
    EligibilityCheck,
    EligibilityCheckResult,
    PaymentRunCreate,
    PaymentRunRead,
)
from app.services.eligibility.batch import check_eligibility_fresh
from app.services.payment_runs import runs

router = APIRouter(tags=["payment"])
NDJSON = "application/x-ndjson"


@router.post(
    "/v1/eligibility/check",
    response_model=EligibilityCheckResult,
    responses=problems(403, 413, 422),
    summary="Check up to 10,000 recipients for a month",
)
@reads_only
async def post_check(
    body: EligibilityCheck,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    policies: PoliciesDep,
    now: NowDep,
) -> EligibilityCheckResult:
    """Answers in request order, `not_found` for unknown recipients."""
    return await check_eligibility_fresh(
        request.state.replica, session, principal, protector, policies, body, now
    )


@router.post(
    "/v1/payment-runs",
    response_model=PaymentRunRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": PaymentRunRead, "description": "The existing run for this month"},
        **problems(403, 422),
    },
    summary="Decide every benefit of an agency prefix for a month",
)
async def post_payment_run(
    body: PaymentRunCreate,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    principal: PrincipalDep,
    policies: PoliciesDep,
    settings: SettingsDep,
    now: NowDep,
) -> PaymentRunRead:
    """Creates the run and computes it in the background, or leaves it to the run workers
    (poll `GET …/{run_id}`); the same month and agency again returns the existing run unless
    `new` is true. 201 also when this request took over a run whose computation had stopped
    (its lease ran out; with run workers, they take it over instead)."""
    options = runs.RunOptions.of(settings)
    run, claim = await runs.create_run(session, principal, body, now, options)
    if claim is None:
        response.status_code = status.HTTP_200_OK
    elif options.in_api:  # else a `certsvc worker` computes it (payment_runs/queue.py)
        sessions, source = request.state.sessionmaker, request.state.runs
        background.add_task(runs.compute_run, sessions, source, policies, claim, options)
    return runs.to_run_read(run)


@router.get(
    "/v1/payment-runs/{run_id}",
    response_model=PaymentRunRead,
    responses=problems(403, 404, 422),
    summary="A payment run's status and counts",
)
async def get_payment_run(
    run_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> PaymentRunRead:
    """Status (pending, running, completed, failed), counts and digest."""
    return runs.to_run_read(await runs.get_run(session, principal, run_id))


@router.get(
    "/v1/payment-runs/{run_id}/items",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every decision in order, as NDJSON (default) or CSV",
            "content": {NDJSON: {}, "text/csv": {}},
        },
        **problems(403, 404, 409, 422),
    },
    summary="Stream a run's decisions",
)
async def get_payment_run_items(
    run_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    accept: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """NDJSON whose SHA-256 is the run's digest; `Accept: text/csv` gives CSV. An item's
    `back_pay_months` are the months this run pays back: reconciled against the earlier
    completed runs, so each month is paid back once across runs (docs/policy.md §7.5)."""
    await runs.require_complete(session, principal, run_id)
    sessions = request.state.sessionmaker
    if accept and "text/csv" in accept:
        header = _csv_line(runs.ITEM_FIELDS)
        body = runs.stream_items(sessions, run_id, _csv_row)

        async def with_header() -> AsyncIterator[bytes]:
            yield header
            async for chunk in body:
                yield chunk

        return StreamingResponse(with_header(), media_type="text/csv")
    return StreamingResponse(runs.stream_lines(sessions, run_id), media_type=NDJSON)


def _csv_line(values: Iterable[object]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().encode()


def _csv_row(row: Mapping[Any, Any]) -> bytes:
    values = []
    for name in runs.ITEM_FIELDS:
        value = row[name]
        values.append(
            " ".join(value) if isinstance(value, list) else "" if value is None else value
        )
    return _csv_line(values)
