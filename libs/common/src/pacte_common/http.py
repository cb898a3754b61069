"""HTTP conventions shared by the routers and the app: optimistic concurrency, cursor
pagination, request bodies bounded while they stream in, offline docs and a truthful OpenAPI."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, FastAPI, Header, Query
from pydantic import BaseModel, BeforeValidator, WithJsonSchema
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pacte_common.errors import PROBLEM_JSON, Invalid, PreconditionFailed, ProblemError

T = TypeVar("T")

async def _if_match(
    value: Annotated[
        str | None,
        Header(alias="If-Match", description="ETag of the version the action was decided on (optimistic concurrency)"),
    ] = None,
) -> str | None:
    return value


IfMatch = Annotated[str | None, Depends(_if_match)]
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,2048}$"
CursorParam = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        max_length=2048,
        description="Opaque cursor from the previous page's `next_cursor` (URL-safe base64, no padding)",
    ),
]
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _only_iso_date(value: Any) -> Any:
    """A calendar date as written in ISO 8601 (`2026-03-31`), nothing else: pydantic alone
    would take `0` or `1700000000` as a Unix time and answer for 1970 instead of a 422."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(ISO_DATE_PATTERN, value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_only_iso_date), WithJsonSchema({"type": "string", "format": "date"})]
LimitParam = Annotated[int, Query(ge=1, le=500, description="Page size")]


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, current_version: int) -> None:
    """412 when the client acted on a stale version; no header means 'whatever the version'."""
    if if_match is None or if_match.strip() == "*":
        return
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if etag(current_version) not in candidates:
        raise PreconditionFailed(
            f"The resource is at version {current_version}; reload it and retry",
            current_etag=etag(current_version),
        )


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except Exception:
        raise Invalid("cursor is not valid; use the next_cursor of a previous page", field="query.cursor") from None


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "The request body is too large"


BODY_LIMIT_EXTRA = "x-body-limit-setting"


class BodyLimitMiddleware:
    """413 problem+json as soon as a request body passes its limit, without reading the rest.

    A declared `Content-Length` over the limit is refused before a byte is read; a chunked
    (or lying) body is counted as it arrives and refused the moment it passes. The app then
    sees a disconnect and whatever it would still send is dropped. The limit is
    `settings.max_request_body_bytes`, or the setting a route names in its OpenAPI extra
    `x-body-limit-setting` (LHEO imports, back-fill exports).
    """

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[Scope], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(scope, send, limit)
            return
        received = 0
        refused = False
        response_started = False

        async def bounded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not response_started:
                        await _send_too_large(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the 413 has been sent; the app's own answer is dropped
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not refused:
                raise  # an app that fails on the disconnect after a 413 is not an error


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(scope: Scope, send: Send, limit: int) -> None:
    problem = PayloadTooLarge(f"the request body exceeds {limit} bytes", limit_bytes=limit)
    body = json.dumps(problem.body(scope.get("path"))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def route_body_limits(app: FastAPI, settings: Any) -> Callable[[Scope], int]:
    """The body limit of a request: the setting its operation names in `x-body-limit-setting`,
    else the service's default. Read from the app's OpenAPI document (public, and it sees
    through included routers), once, at the first request."""
    default = settings.max_request_body_bytes
    overrides: list[tuple[str, re.Pattern[str], int]] = []
    loaded = False

    def load() -> None:
        for path, item in app.openapi().get("paths", {}).items():
            for method, operation in item.items():
                if isinstance(operation, dict) and BODY_LIMIT_EXTRA in operation:
                    limit = int(getattr(settings, operation[BODY_LIMIT_EXTRA]))
                    overrides.append((method.upper(), compile_path(path)[0], limit))

    def limit_for(scope: Scope) -> int:
        nonlocal loaded
        if not loaded:
            load()
            loaded = True
        path = scope.get("path", "")
        for method, pattern, limit in overrides:
            if scope.get("method") == method and pattern.match(path):
                return limit
        return default

    return limit_for


def install_http_conventions(app: FastAPI, settings: Any) -> None:
    """What every service's app gets on top of FastAPI: bounded bodies, offline docs, and an
    OpenAPI document that lists the problems each route can answer."""
    from pacte_common.docs import install_offline_docs, install_problem_responses

    app.add_middleware(BodyLimitMiddleware, limit_for=route_body_limits(app, settings))
    install_offline_docs(app)
    install_problem_responses(app)
