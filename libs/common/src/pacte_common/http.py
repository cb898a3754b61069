"""HTTP conventions shared by the routers and the app: optimistic concurrency, cursor
pagination, request bodies bounded while they stream in, offline docs and a truthful OpenAPI."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Query
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema
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
# A keyset position: the last item's sort key as an integer and its id (32 hex digits). Every
# string of this form is a valid position (keys out of range are clamped), so the schema says
# exactly which cursors are accepted: what a client may send and what a tool may generate.
CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9a-f]{32}$"
CursorParam = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        description="The previous page's `next_cursor`: the last item's sort key and id, `<integer>.<32 hex digits>`",
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
# Filters as written: a code, a département. Their patterns also keep control characters (a NUL,
# which PostgreSQL refuses in text) out of the queries: a 422 naming the parameter, not a 500.
CODE = r"^[A-Za-z0-9_.\-]{1,64}$"
DEPARTEMENT = r"^([0-9]{2}|2A|2B)$"


def decimal_input(
    *, max_digits: int, decimal_places: int, ge: int | None = None, gt: int | None = None,
    le: int | None = None, pattern: str | None = None, description: str | None = None,
) -> Any:
    """A Decimal of a request body, written as a JSON string in plain notation (`"1234.50"`)
    or as a JSON integer, and its JSON Schema saying exactly that.

    pydantic alone also takes floats (`0.1 + 0.2`), exponents, underscores, surrounding
    spaces and non-ASCII digits, none of which the schema can say; and a float is not an
    amount. So a string must match `pattern` (by default: digits within `max_digits` and
    `decimal_places`, no sign when the minimum is 0 or more), a number must be an integer,
    and the bounds are checked on the value as well. What the schema allows is accepted and
    what it does not is refused (422 naming the field)."""
    integer_digits = max_digits - decimal_places
    if pattern is None:
        sign = "" if (ge is not None and ge >= 0) or (gt is not None and gt >= 0) else "-?"
        fraction = f"(\\.[0-9]{{1,{decimal_places}}})?" if decimal_places else ""
        pattern = f"^{sign}(0|[1-9][0-9]{{0,{integer_digits - 1}}}){fraction}$"
    largest = 10**integer_digits - 1 if le is None else min(le, 10**integer_digits - 1)
    integer: dict[str, Any] = {"type": "integer", "maximum": largest}
    if ge is not None:
        integer["minimum"] = ge
    elif gt is not None:
        integer["exclusiveMinimum"] = gt
    else:
        integer["minimum"] = -largest
    schema: dict[str, Any] = {"anyOf": [{"type": "string", "pattern": pattern}, integer]}
    if description:
        schema["description"] = description

    def plain(value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError('a decimal is written as a string ("7.50") or an integer, never a float')
        if isinstance(value, float):
            return int(value)
        if isinstance(value, str) and not re.fullmatch(pattern, value):
            raise ValueError(f"a decimal is written like 1234.50: at most {integer_digits} digits, then at most {decimal_places} after the point")
        return value

    bounds = {"ge": ge, "gt": gt, "le": le}
    return Annotated[
        Decimal,
        BeforeValidator(plain),
        Field(max_digits=max_digits, decimal_places=decimal_places, **{k: v for k, v in bounds.items() if v is not None}),
        WithJsonSchema(schema, mode="validation"),
        WithJsonSchema({"type": "string", "pattern": pattern, **({"description": description} if description else {})}, mode="serialization"),
    ]


def required_when(condition: dict[str, Any], then: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """A conditional rule of a body in its JSON Schema (`if`/`then`, OpenAPI 3.1), so that the
    document says what the validator checks: when every property of `condition` has its
    schema, each property of `then` must have its own (and be present, unless `required` is
    False). Used in a model's `json_schema_extra={"allOf": [...]}`."""
    rule: dict[str, Any] = {"properties": then}
    if required:
        rule["required"] = sorted(then)
    return {"if": {"properties": condition, "required": sorted(condition)}, "then": rule}


NOT_NULL: dict[str, Any] = {"not": {"type": "null"}}
NOT_BLANK: dict[str, Any] = {"type": "string", "pattern": "\\S"}


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


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the item with this sort key and this id."""

    key: int
    id: UUID


def encode_cursor(key: int, row_id: UUID | str) -> str:
    """The cursor after an item: `key` from `instant_key`, `date_key` or `month_key`."""
    return f"{key}.{UUID(str(row_id)).hex}"


def decode_cursor(cursor: str | None) -> Cursor | None:
    if not cursor:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise Invalid("cursor is not valid; use the next_cursor of a previous page", field="query.cursor")
    key, _, hex_id = cursor.partition(".")
    return Cursor(int(key), UUID(hex=hex_id))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def instant_key(value: datetime) -> int:
    """An aware instant as microseconds since 1970 (UTC)."""
    return (value - _EPOCH) // _MICROSECOND


def key_instant(key: int) -> datetime:
    return _EPOCH + key * _MICROSECOND  # 16 digits at most: before the year 2287


def date_key(value: date) -> int:
    return value.toordinal()


def key_date(key: int) -> date:
    return date.fromordinal(min(max(key, 1), date.max.toordinal()))


def month_key(month: str) -> int:
    """A month `YYYY-MM` as a number of months."""
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def key_month(key: int) -> str:
    year, number = divmod(min(key, 9999 * 12 + 11), 12)
    return f"{year:04d}-{number + 1:02d}"


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


class SecurityHeadersMiddleware:
    """Headers every response gets (docs/security.md, "Headers"): `nosniff`, no framing, HSTS
    when `hsts_max_age_s` is set, and `Cache-Control: no-store` on whatever `private` says may
    carry personal data (by default: every answer to a request with credentials) unless the
    route chose its own caching."""

    def __init__(self, app: ASGIApp, hsts_max_age_s: int = 0, private: Callable[[Scope], bool] | None = None):
        self.app = app
        self.fixed = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
        if hsts_max_age_s:
            self.fixed.append((b"strict-transport-security", f"max-age={hsts_max_age_s}; includeSubDomains".encode()))
        self.private = private or _carries_credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = self.private(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in self.fixed if header[0] not in present)
                if private and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class InputGuardMiddleware:
    """Input no route can store or parse safely is refused before any route sees it, with a
    422 problem naming the field (docs/security.md, "Input"): a NUL character in the path, a
    query parameter or a JSON string (PostgreSQL cannot store it), a JSON body nested deeper
    than `max_json_depth` (Python's parser would overflow its stack). Runs inside the body
    limit, so the JSON it reads is bounded."""

    def __init__(self, app: ASGIApp, max_json_depth: int):
        self.app = app
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        field = _nul_in_url(scope)
        if field:
            await _send_problem(scope, send, Invalid("a NUL character is not allowed", field=field))
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(b"", message, receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        problem = _json_problem(body, self.max_json_depth)
        if problem is not None:
            await _send_problem(scope, send, problem)
            return
        await self.app(scope, _replay(body, None, receive), send)


def _replay(body: bytes, first: Message | None, receive: Receive) -> Receive:
    """A receive that gives the buffered body (or the message read) once, then the real one."""
    pending = [first or {"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def _nul_in_url(scope: Scope) -> str | None:
    from urllib.parse import parse_qsl

    if "\x00" in scope.get("path", ""):
        return "path"
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query and "\x00" not in query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return f"query.{name.replace(chr(0), '')}"
    return None


def _json_problem(body: bytes, max_depth: int) -> Invalid | None:
    # Fast path: a body without the NUL escape and with fewer brackets than the bound is safe.
    if b"\\u0000" not in body and body.count(b"[") + body.count(b"{") <= max_depth:
        return None
    try:
        document = json.loads(body)
    except RecursionError:
        return Invalid(f"the JSON is nested deeper than {max_depth} levels", field="body")
    except ValueError:
        return None  # malformed: the route's own parser says where
    stack: list[tuple[Any, str, int]] = [(document, "body", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return Invalid("a NUL character is not allowed", field=path)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth >= max_depth:
            return Invalid(f"the JSON is nested deeper than {max_depth} levels", field=path)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and "\x00" in key:
                return Invalid("a NUL character is not allowed in a member name", field=path)
            stack.append((item, f"{path}.{key}", depth + 1))
    return None


async def _send_problem(scope: Scope, send: Send, problem: ProblemError) -> None:
    body = json.dumps(problem.body(scope.get("path"))).encode()
    await send({
        "type": "http.response.start",
        "status": problem.status,
        "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


def _carries_credentials(scope: Scope) -> bool:
    return any(name in (b"authorization", b"cookie") for name, _ in scope.get("headers", ()))


def install_http_conventions(app: FastAPI, settings: Any) -> None:
    """What every service's app gets on top of FastAPI: bounded bodies, security headers, offline
    docs, and an OpenAPI document that lists the problems each route can answer."""
    from pacte_common.docs import install_offline_docs, install_problem_responses
    from pacte_common.settings import DEVELOPMENT

    app.add_middleware(InputGuardMiddleware, max_json_depth=settings.max_json_depth)
    app.add_middleware(BodyLimitMiddleware, limit_for=route_body_limits(app, settings))
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age_s=settings.hsts_max_age_s)
    install_offline_docs(app, persist_authorization=settings.environment == DEVELOPMENT)
    install_problem_responses(app)
