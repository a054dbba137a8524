"""Errors as clients see them: one JSON shape for the API, one HTML page for the dashboard, and never a
stack trace. Details of unexpected failures go to the server log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from modelwarden.errors import (
    ConfigurationError,
    ConflictError,
    InvalidAssessment,
    ModelwardenError,
    NotFoundError,
    RegistryError,
    UnavailableError,
    ValidationError,
)

log = logging.getLogger("modelwarden.web")

API_PREFIX = "/api/"


class ErrorDetail(BaseModel):
    """One problem with the request: where and what."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    location: str
    """Where in the request: `body.facts.files.0.size`, `query.limit`, ..."""
    message: str
    """What is wrong there."""


class ErrorBody(BaseModel):
    """The error itself: HTTP status, a stable code, a message and per-field details."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    status: int
    """The HTTP status."""
    code: str
    """A stable machine-readable code (`not_found`, `invalid_input`, ...)."""
    message: str
    """What went wrong, for people."""
    details: list[ErrorDetail] = []
    """One entry per invalid field, for validation errors."""


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    error: ErrorBody
    """The error."""


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route can return."""
    return {status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]} for status in statuses}


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing or wrong API token",
    403: "Writes are not enabled, the path (or a file in it) leads outside the allowed folders, or the token "
    "does not allow this",
    404: "Not found",
    409: "The submitted files changed while they were read",
    413: "Request body too large",
    415: "Not JSON",
    422: "Invalid input",
    500: "Internal error",
    501: "Not available in this build",
    503: "Registry database unavailable",
}


class ApiError(Exception):
    """An error a route returns as an `ErrorResponse` with its HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX) or request.url.path == "/api"


def _render(request: Request, error: ApiError) -> Response:
    if _is_api(request):
        body = ErrorResponse(
            error=ErrorBody(
                status=error.status, code=error.code, message=error.message, details=error.details
            )
        )
        return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)
    templates = getattr(request.app.state, "templates", None)
    if templates is None:  # pragma: no cover - the dashboard always installs its templates
        return HTMLResponse("error", status_code=error.status)
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request,
        "error.html",
        {"error": error},
        status_code=error.status,
        headers=error.headers,
    )


render = _render  # for middleware that answers before any route runs


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def validation_details(errors: Any) -> list[ErrorDetail]:
    # Messages and locations only: the input values are not echoed back.
    """Pydantic errors as `ErrorDetail`s (locations and messages, never the input values)."""
    return [
        ErrorDetail(location=_location(e.get("loc", ())), message=str(e.get("msg", "invalid")))
        for e in errors
    ]


def _allowed_methods(request: Request) -> str:
    """Every method some route accepts on this path (Starlette names only the first route's methods)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods.update(route_methods)
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Register the handlers that answer every error as an `ErrorResponse` (HTML pages for the dashboard)."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _render(request, exc)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = validation_details(exc.errors())
        first = details[0] if details else ErrorDetail(location="request", message="invalid")
        status = 422 if _is_api(request) else 400
        return _render(
            request,
            ApiError(status, "invalid_request", f"{first.location}: {first.message}", details=details),
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            headers = {"Allow": _allowed_methods(request)}
        return _render(request, ApiError(exc.status_code, code, message, headers=headers))

    async def modelwarden_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelwardenError)
        if isinstance(exc, InvalidAssessment):
            return _render(request, ApiError(422, "invalid_assessment", exc.message))
        # By kind (errors.py): the same statuses as the gateway's admin API.
        if isinstance(exc, NotFoundError):
            return _render(request, ApiError(404, "not_found", exc.message))
        if isinstance(exc, ConflictError):
            return _render(request, ApiError(409, "conflict", exc.message))
        if isinstance(exc, ValidationError):
            return _render(request, ApiError(422, "invalid_request", exc.message))
        if isinstance(exc, RegistryError | UnavailableError | ConfigurationError):
            # The message names the database URL or a file: keep it in the server log.
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc.message)
            return _render(
                request, ApiError(503, "registry_unavailable", "the registry database is unavailable")
            )
        return _render(request, ApiError(422, "unprocessable", exc.message))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return _render(
            request, ApiError(500, "internal_error", "internal error; the server log has the details")
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ModelwardenError, modelwarden_error)
    app.add_exception_handler(Exception, unexpected)
