"""RFC 9457 problem details for every error a service returns (docs/conventions.md §2.2).

`type` is a stable URI per kind of problem (documented in docs/problems.md); 422 lists each
invalid field; 409 on a state machine carries the current state and the allowed actions; a
500 never carries a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pacte_common.state_machine import TransitionRefused

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://pacte.paysdelaloire.fr/problems/"
PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str | None = None, *, title: str | None = None, slug: str | None = None, **extensions: Any):
        super().__init__(detail or self.title)
        self.detail = detail
        if title:
            self.title = title
        if slug:
            self.slug = slug
        self.extensions = extensions
        self.headers: dict[str, str] = {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": PROBLEM_BASE + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **extensions: Any):
        super().__init__(detail, **extensions)
        self.headers = {"WWW-Authenticate": 'Bearer realm="pacte"'}


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    """An action not allowed from the current state: says which state and which actions are."""

    slug, title = "invalid-transition", "Action not allowed in the current state"

    def __init__(self, action: str, current_state: str, allowed_actions: list[str], detail: str | None = None):
        super().__init__(
            detail or f"'{action}' is not allowed when the state is '{current_state}'",
            current_state=current_state,
            allowed_actions=sorted(allowed_actions),
        )


class ConcurrentUpdate(Conflict):
    """Another request changed the row between our read and our write (its version moved)."""

    slug, title = "concurrent-update", "Concurrent update"


class PreconditionFailed(ProblemError):
    status, slug, title = 412, "precondition-failed", "The resource changed meanwhile"


class PreconditionRequired(ProblemError):
    status, slug, title = 428, "precondition-required", "If-Match header required"


class Invalid(ProblemError):
    """422 with field-level errors: `Invalid(field="body.birth_date", message="...")`."""

    status, slug, title = 422, "validation-error", "Invalid request"

    def __init__(self, message: str | None = None, *, field: str | None = None, errors: list[dict] | None = None):
        errors = errors or [{"field": field or "body", "message": message or "invalid value"}]
        super().__init__(
            message if field is None and message else "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            errors=errors,
        )


class ServiceBusy(ProblemError):
    """503: the write could not get the database within its bound (SQLite's single write
    lock held by a long batch): nothing was done, retry after `Retry-After` seconds."""

    status, slug, title = 503, "busy", "The service is busy; retry shortly"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 1, **extensions: Any):
        super().__init__(detail, retry_after_s=retry_after_s, **extensions)
        self.headers = {"Retry-After": str(retry_after_s)}


class TooManyRequests(ProblemError):
    """429: this client spent its budget for this kind of route (pacte_common.fair_share)."""

    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 1, **extensions: Any):
        super().__init__(detail, retry_after_s=retry_after_s, **extensions)
        self.headers = {"Retry-After": str(retry_after_s)}


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite's "database is locked" (or our write queue's) after the bounded wait."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def _field_path(location: tuple | list) -> str:
    return ".".join(str(part) for part in location)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        message = error.get("msg", "invalid value")
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        errors.append({"field": _field_path(error.get("loc", ())), "message": message, "code": error.get("type")})
    return errors


def problem_response(problem: ProblemError, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        problem.body(str(request.url.path) if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError):
        return problem_response(exc, request)

    @app.exception_handler(TransitionRefused)
    async def _refused(request: Request, exc: TransitionRefused):
        # A move the state machine does not allow is a conflict with the current state (409).
        return problem_response(InvalidTransition(exc.action, exc.state, exc.allowed, exc.why), request)

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError):
        # Optimistic concurrency (the models' version_id_col): the other writer won; nothing of
        # this request was committed.
        return problem_response(
            ConcurrentUpdate("The resource was changed by another request meanwhile; reload it and retry"), request
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return problem_response(Invalid(errors=_validation_errors(exc)), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        problem = ProblemError(str(exc.detail) if exc.detail else None, slug=f"http-{exc.status_code}", title=_reason(exc.status_code))
        problem.status = exc.status_code
        problem.headers = dict(exc.headers or {})
        if exc.status_code == 405:
            problem.headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(problem, request)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError):
        from pacte_common.bus import is_transient
        from pacte_common.db import LockSettings

        if is_lock_timeout(exc):
            log.warning("busy: %s %s did not get the database's write lock in time", request.method, request.url.path)
            detail = "The database is busy with another write; nothing was done, retry after Retry-After seconds"
        elif is_transient(exc):  # unreachable, failed over, a pooled connection that died
            log.warning("busy: %s %s lost the database: %s", request.method, request.url.path, type(exc.orig).__name__)
            detail = "The database is unavailable for a moment; nothing was done, retry after Retry-After seconds"
        else:
            raise exc  # a 500, below
        return problem_response(ServiceBusy(detail, retry_after_s=LockSettings().busy_retry_after_s), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = ProblemError("An unexpected error occurred; it has been logged.", slug="internal-error", title="Internal error")
        problem.status = 500
        return problem_response(problem, request)


def _allowed_methods(request: Request) -> list[str]:
    """Every method served at this path. Starlette's own 405 names only the first route that
    matched the path (wrong when GET and POST of one path are separate routes), and FastAPI
    keeps included routers unflattened: the app's own routes and its OpenAPI paths are read."""
    from starlette.routing import Match, compile_path

    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(route_methods)
    path = request.scope.get("path", "")
    for template, item in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            methods |= {method.upper() for method in item if method in _HTTP_METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
