"""One error family, rendered as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("certsvc.errors")

PROBLEM_JSON = "application/problem+json"

# Pydantic error types that carry our own stable codes (raised with PydanticCustomError).
DOMAIN_VALIDATION_CODES = frozenset(
    {
        "invalid_id_number",
        "invalid_agency_code",
        "invalid_month",
        "invalid_phone",
        "invalid_character",
        "invalid_cursor",
        "date_out_of_range",
        "duplicate_json_key",
        "before_birth",
        "webhook_url_credentials",
        # Rules between fields or items, which no JSON schema states (docs/certifications.md).
        "ends_before_start",
        "benefit_listed_twice",
    }
)


# Pydantic's own error types that mean what one of ours means: a string holding an unpaired
# surrogate (no UTF-8 can encode it) is refused before our text validators run.
_SAME_AS = {"string_unicode": "invalid_character"}


class ValidationItem(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """The body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[ValidationItem] | None = None
    standing: dict[str, Any] | None = Field(
        default=None,
        description="`already_resolved`: the decision that stands, which this request lost to",
    )


class AppError(Exception):
    """An expected failure: a status, a stable code and a message safe to show the caller."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.code = code or self.code
        self.status = status or self.status
        self.title = title or self.title
        self.headers = headers

    def to_problem(self) -> Problem:
        return Problem(title=self.title, status=self.status, detail=self.detail, code=self.code)


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(AppError):
    status, code, title = 403, "forbidden_role", "Forbidden"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class AlreadyResolved(Conflict):
    """A decision on something another decision already settled: of two racing (or repeated)
    decisions one stands, and the other learns which (``standing``) instead of overwriting it."""

    code, title = "already_resolved", "Already resolved"

    def __init__(self, detail: str, standing: dict[str, Any]) -> None:
        super().__init__(detail)
        self.standing = standing

    def to_problem(self) -> Problem:
        problem = super().to_problem()
        problem.standing = self.standing
        return problem


class Unprocessable(AppError):
    status, code, title = 422, "validation_error", "Unprocessable content"


class DatabaseUnavailable(AppError):
    status, code, title = 503, "database_unavailable", "Database unavailable"


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def validation_problem(errors: Sequence[Any]) -> Problem:
    """Shape pydantic errors as a problem. Inputs are never echoed: they may be ID numbers."""
    items = [
        ValidationItem(
            loc=[part for part in error.get("loc", ()) if part is not None],
            msg=str(error.get("msg", "invalid")),
        )
        for error in errors
    ]
    types = {_SAME_AS.get(error.get("type"), error.get("type")) for error in errors}
    codes = types & DOMAIN_VALIDATION_CODES
    code = sorted(codes)[0] if codes else "validation_error"
    return Problem(
        title="Unprocessable content",
        status=422,
        detail="The request is not valid; see errors.",
        code=code,
        errors=items,
    )


# FastAPI's detail for a request body that cannot be decoded (fastapi/routing.py).
_UNPARSABLE_BODY = "There was an error parsing the body"

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden_role",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return problem_response(exc.to_problem(), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            # FastAPI answers 422 for malformed JSON but 400 for a body it cannot even decode
            # (not UTF-8); the contract documents one answer for both, the 422.
            return problem_response(
                validation_problem(
                    [
                        {
                            "loc": ("body",),
                            "msg": "The body is not valid JSON",
                            "type": "json_invalid",
                        }
                    ]
                )
            )
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        problem = Problem(title=detail or code, status=exc.status_code, detail=detail, code=code)
        return problem_response(problem, dict(exc.headers) if exc.headers else None)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    # Every pooled connection busy past the pool timeout: the database is saturated for now.
    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(OSError)
    @app.exception_handler(TimeoutError)
    async def _database_down(_request: Request, exc: Exception) -> JSONResponse:
        logger.warning("database unavailable: %s", type(exc).__name__)
        problem = DatabaseUnavailable("The database cannot be reached; try again shortly.")
        return problem_response(problem.to_problem(), {"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        # asyncpg reports a connection lost mid-statement (the server stopped or restarted)
        # as a plain DBAPIError, not an OperationalError: still "unavailable", not a 500.
        if _connection_lost(exc):
            return await _database_down(request, exc)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
        problem = Problem(
            title="Internal server error",
            status=500,
            detail="An unexpected error occurred; it has been logged.",
            code="internal_error",
        )
        return problem_response(problem)


def _connection_lost(exc: Exception) -> bool:
    """The connection was lost (SQLAlchemy invalidated it), or the server refused or ended it:
    SQLSTATE class 08 (connection exception) or 57P (shut down, starting up)."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return exc.connection_invalidated or sqlstate.startswith(("08", "57P"))
