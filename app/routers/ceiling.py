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
from sqlalchemy import select

from app.db.models import Recipient
from app.db.read_pool import ReadPool

router = APIRouter(include_in_schema=False)

ROW_QUERY = (
    "SELECT id, id_masked, birth_date, residence, emergency_contacts FROM recipients WHERE id = $1"
)
_NOT_FOUND = b'{"code":"not_found"}'


@router.get("/bench/ceiling/{recipient_id}")
async def ceiling(recipient_id: uuid.UUID, request: Request) -> Response:
    pool: ReadPool | None = request.state.read_pool
    if pool is not None:
        row = await pool.fetchrow(ROW_QUERY, recipient_id)
        found = None if row is None else dict(row)
    else:  # SQLite: the engine's connection (there is no asyncpg)
        async with request.state.engine.connect() as connection:
            result = await connection.execute(
                select(
                    Recipient.id,
                    Recipient.id_masked,
                    Recipient.birth_date,
                    Recipient.residence,
                    Recipient.emergency_contacts,
                ).where(Recipient.id == recipient_id)
            )
            mapping = result.mappings().first()
        found = None if mapping is None else dict(mapping)
    if found is None:
        return Response(_NOT_FOUND, status_code=404, media_type="application/json")
    return Response(orjson.dumps(found, default=str), media_type="application/json")
