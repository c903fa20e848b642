"""The error responses routes declare, so that the OpenAPI document lists them."""

from __future__ import annotations

from typing import Any

from app.errors import PROBLEM_JSON, Problem


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Bad request",
        401: "No valid API key (`unauthorized`; `api_key_expired` for a key past its expiry)",
        403: "Role or region not allowed (`forbidden_role`, `forbidden_region`)",
        404: "Not found",
        409: "Conflict",
        413: "Payload too large",
        422: "Invalid input (`validation_error`, or a specific code such as `invalid_id_number`)",
        429: "Rate limit for this client exceeded (`rate_limited`), or too many failed "
        "authentications from this address (`auth_failures_limited`); see Retry-After",
        503: "Database unavailable or not answering (`database_unavailable`); see Retry-After",
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in (*statuses, 401, 429, 503)
    }
