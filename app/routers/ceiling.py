"""The benchmark ceiling (issue 6): the cheapest database read this application can serve.

Mounted only when ``CERTSVC_BENCH_CEILING`` is set, and left out of the OpenAPI document: it is
a measuring instrument, not part of the contract. It runs through the same app, middleware and
server as every endpoint, and reads one recipient row by primary key, so that
bench.point_eligibility can report the eligibility endpoint against "a bare endpoint that reads
one row with asyncpg in the same server setup". On PostgreSQL it reads through the same asyncpg pool
as the eligibility endpoint (app/db/read_pool.py); on SQLite through the engine.
"""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Request, Response

from app.db.ceiling import recipient_row

router = APIRouter(include_in_schema=False)

_NOT_FOUND = b'{"code":"not_found"}'


@router.get("/bench/ceiling/{recipient_id}")
async def ceiling(recipient_id: uuid.UUID, request: Request) -> Response:
    found = await recipient_row(request.state.read_pool, request.state.engine, recipient_id)
    if found is None:
        return Response(_NOT_FOUND, status_code=404, media_type="application/json")
    return Response(orjson.dumps(found, default=str), media_type="application/json")
