"""The AGORA sandbox app: `uvicorn --factory agora_gateway.sandbox.main:create_app --port 8005`.

Implements docs/agora-contract.md for the dev stack and the tests, keeps what it received
(in memory, with the trace id of each call's `traceparent`), answers a replayed
Idempotency-Key with the first answer, and injects faults on demand (latency, a rate of
503s, timeouts, rejections with chosen codes).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pacte_common.docs import install_offline_docs
from pacte_common.tracing import parse_traceparent, trace_id_of
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from agora_gateway.sandbox import contract as c
from agora_gateway.sandbox.settings import AgoraSandboxSettings
from agora_gateway.sandbox.store import Rejected, SandboxStore


class NumbersNotBooleans(BaseModel):
    """Closed, and a number is a number: `false` is not 0 seconds (pydantic alone takes it)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a number, not a boolean")
        return value


class RejectionRule(NumbersNotBooleans):
    operation: str = Field("*", description="Operation to reject (create, enter, …, bulk_load) or * for any")
    code: str
    message: str = "Rejected by fault injection"
    remaining: int = Field(1, ge=1, description="How many calls to reject")
    http_status: int = Field(422, ge=400, le=499)


class Faults(NumbersNotBooleans):
    # bounded: a fault lasts seconds, not hours (the gateway times out after 5 s)
    latency_min_ms: int = Field(0, ge=0, le=5000)
    latency_max_ms: int = Field(0, ge=0, le=5000)
    error_rate: float = Field(0.0, ge=0, le=1, description="Share of calls answered 503, not processed")
    timeout_rate: float = Field(
        0.0, ge=0, le=1, description="Share of calls processed then answered after timeout_delay_s"
    )
    timeout_delay_s: float = Field(15.0, ge=0, le=15)
    rejections: list[RejectionRule] = Field(default_factory=list)


class FaultCounters(BaseModel):
    errors: int = 0
    timeouts: int = 0
    rejections: int = 0


_bearer = HTTPBearer(auto_error=False)
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]
TraceParent = Annotated[str | None, Header(alias="traceparent", max_length=255)]


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a valid W3C `traceparent` header, else None."""
    return trace_id_of(parse_traceparent(traceparent))


def create_app(settings: AgoraSandboxSettings | None = None) -> FastAPI:
    settings = settings or AgoraSandboxSettings()
    store = SandboxStore()
    state: dict[str, Any] = {
        "faults": Faults(
            latency_min_ms=settings.latency_min_ms,
            latency_max_ms=settings.latency_max_ms,
            error_rate=settings.error_rate,
            timeout_rate=settings.timeout_rate,
            timeout_delay_s=settings.timeout_delay_s,
        ),
        "counters": FaultCounters(),
    }
    rng = random.Random(settings.random_seed)
    app = FastAPI(
        title="AGORA sandbox",
        description="Development stand-in for AGORA (Caisse des dépôts), contract v" + c.CONTRACT_VERSION,
        version=c.CONTRACT_VERSION,
    )
    app.state.store = store
    install_offline_docs(app)
    document_agora_errors(app)

    async def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        expected = settings.token.get_secret_value()
        if credentials is None or not secrets.compare_digest(credentials.credentials, expected):
            raise _Reply(401, c.Rejection(code="unauthorized", message="A valid bearer token is required").model_dump())

    Auth = Depends(authorised)

    class _Reply(Exception):
        def __init__(self, status: int, body: dict):
            self.status, self.body = status, body

    @app.exception_handler(_Reply)
    async def _reply(request: Request, exc: _Reply):
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        """FastAPI's own refusals (unreadable body, wrong method) in AGORA's shape; a 405 names
        every method of the path."""
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_documented_methods(request))
        code = {400: "unreadable_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = c.Rejection(code=code, message=str(exc.detail)).model_dump()
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        fields = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
        return JSONResponse(c.Rejection(code=c.INVALID_PAYLOAD, message=fields).model_dump(), status_code=422)

    async def before(operation: str) -> bool:
        """Latency, then maybe a 503 (nothing processed). Returns whether to answer late."""
        faults: Faults = state["faults"]
        if faults.latency_max_ms > 0:
            await asyncio.sleep(rng.uniform(faults.latency_min_ms, max(faults.latency_min_ms, faults.latency_max_ms)) / 1000)
        if faults.error_rate and rng.random() < faults.error_rate:
            state["counters"].errors += 1
            raise _Reply(503, {"status": "error", "code": "unavailable", "message": "Injected fault: service unavailable"})
        for rule in faults.rejections:
            if rule.remaining > 0 and rule.operation in ("*", operation):
                rule.remaining -= 1
                state["counters"].rejections += 1
                store.count_rejection(rule.code)
                raise _Reply(rule.http_status, c.Rejection(code=rule.code, message=rule.message).model_dump())
        return bool(faults.timeout_rate) and rng.random() < faults.timeout_rate

    async def late(answer_late: bool) -> None:
        if answer_late:
            state["counters"].timeouts += 1
            await asyncio.sleep(state["faults"].timeout_delay_s)

    def require_key(key: str | None) -> str:
        if not key:
            raise _Reply(400, c.Rejection(code="missing_idempotency_key", message="Idempotency-Key header is required").model_dump())
        return key

    @app.post("/v1/operations", dependencies=[Auth], summary="One operation on one file")
    async def operate(body: c.OperationRequest, idempotency_key: IdemKey, traceparent: TraceParent = None) -> JSONResponse:
        key = require_key(idempotency_key)
        payload = body.model_dump(mode="json")
        try:
            stored = store.replay(key, payload)
        except Rejected as rejected:
            return JSONResponse(rejected.body(), status_code=rejected.http_status)
        if stored is not None:
            return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})
        answer_late = await before(body.operation)
        stored = store.replay(key, payload)  # a resend may have come while we waited
        if stored is not None:
            return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})
        try:
            status, answer = 200, store.operate(body, key, _trace_id(traceparent))
        except Rejected as rejected:
            store.count_rejection(rejected.code)
            status, answer = rejected.http_status, rejected.body()
        store.remember(key, payload, status, answer)
        await late(answer_late)
        return JSONResponse(answer, status_code=status)

    @app.post("/v1/files/search", dependencies=[Auth], summary="Search for a pre-existing file")
    async def search(body: c.SearchRequest) -> dict:
        await before("search")
        return {"files": store.search(body)}

    @app.post("/v1/bulk/files", dependencies=[Auth], summary="Back-fill: whole files in one call")
    async def bulk(body: c.BulkRequest, idempotency_key: IdemKey, traceparent: TraceParent = None) -> JSONResponse:
        key = require_key(idempotency_key)
        if len(body.files) > settings.max_bulk_files:
            return JSONResponse(
                c.Rejection(code="batch_too_large", message=f"At most {settings.max_bulk_files} files per call").model_dump(),
                status_code=413,
            )
        payload = body.model_dump(mode="json")
        stored = store.replay(key, payload)
        if stored is not None:
            return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})
        answer_late = await before("bulk_load")
        stored = store.replay(key, payload)
        if stored is not None:
            return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})
        store.bulk_calls += 1
        trace_id = _trace_id(traceparent)
        answer = {"results": [store.bulk_one(raw, key, trace_id) for raw in body.files]}
        store.remember(key, payload, 200, answer)
        await late(answer_late)
        return JSONResponse(answer)

    @app.get("/v1/holdings", dependencies=[Auth], summary="What the sandbox holds, and the duplicates it absorbed")
    async def holdings(include_files: bool = False, funder_ref: str | None = None) -> dict:
        return store.holdings(include_files, funder_ref) | {"faults_injected": state["counters"].model_dump()}

    @app.get("/v1/files/{agora_file_id}", dependencies=[Auth], summary="One file as AGORA holds it")
    async def one_file(agora_file_id: str) -> JSONResponse:
        held = store.files.get(agora_file_id)
        if held is None:
            return JSONResponse(c.Rejection(code=c.UNKNOWN_FILE, message="No such file").model_dump(), status_code=404)
        return JSONResponse(_json(held.view()))

    @app.get("/v1/faults", dependencies=[Auth])
    async def get_faults() -> Faults:
        return state["faults"]

    @app.put("/v1/faults", dependencies=[Auth], summary="Switch faults on (or off with an empty body)")
    async def put_faults(faults: Faults) -> Faults:
        state["faults"] = faults
        return faults

    @app.post("/v1/reset", dependencies=[Auth], summary="Forget everything (files, keys, counters, faults)")
    async def reset() -> dict:
        store.reset()
        state["faults"], state["counters"] = Faults(), FaultCounters()
        return {"status": "reset"}

    @app.get("/health/live")
    async def live() -> dict:
        return {"status": "ok", "service": "agora-sandbox"}

    return app


# AGORA answers its errors in its own JSON shape (docs/agora-contract.md), not as problem+json:
# the sandbox stands in for it, so its OpenAPI document says that shape for every error.
AGORA_ERROR_SCHEMA: dict[str, Any] = {
    "title": "AgoraError",
    "type": "object",
    "required": ["status", "code", "message"],
    "properties": {
        "status": {"type": "string", "enum": ["rejected", "error"], "description": "rejected: refused, not processed; error: unavailable"},
        "code": {"type": "string", "description": "AGORA rejection code (invalid_payload, unknown_file, …)"},
        "message": {"type": "string"},
    },
}
AGORA_ERRORS = {
    400: "A body that is not JSON, or no Idempotency-Key on a call that needs one",
    401: "No valid bearer token",
    404: "No such file",
    413: "More files than one bulk call takes",
    422: "Invalid payload, or refused by AGORA's rules (the code says which)",
    503: "Unavailable (fault injection): nothing was processed; retry",
    "4XX": "A rejection injected with a chosen HTTP status (PUT /v1/faults)",
}


def _agora_errors_of(path: str, method: str, operation: dict[str, Any]) -> set[int | str]:
    errors: set[int | str] = set()
    if operation.get("security"):
        errors.add(401)
    if operation.get("parameters") or "requestBody" in operation:
        errors.add(422)
    if "requestBody" in operation:
        errors.add(400)  # a body that is not JSON
    if (path, method) in {("/v1/operations", "post"), ("/v1/bulk/files", "post"), ("/v1/files/search", "post")}:
        errors |= {503, "4XX"}  # fault injection: unavailable, or a rejection with any 4xx status
    if path in ("/v1/operations", "/v1/bulk/files"):
        errors.add(400)
    if path == "/v1/bulk/files":
        errors.add(413)
    if path == "/v1/files/{agora_file_id}":
        errors.add(404)
    return errors


def _document_operation_data(schemas: dict[str, Any]) -> None:
    """`data` of an operation is the body of that operation (c.OPERATION_DATA), as the sandbox
    checks it: the request is one of eight shapes, one per operation."""
    request = schemas["OperationRequest"]
    variants = []
    for operation, model in c.OPERATION_DATA.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
        variant = {**request["properties"], "operation": {"const": operation},
                   "data": {"$ref": f"#/components/schemas/{model.__name__}"}}
        variants.append({"type": "object", "additionalProperties": False, "required": ["operation", "data"],
                         "properties": variant})
    schemas["OperationRequest"] = {"title": "OperationRequest", "description": "One operation on one file", "oneOf": variants}


def _documented_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives this path: its own entry when the path is
    literally one (`/v1/files/search`), else every template that matches it."""
    from starlette.routing import compile_path

    paths = request.app.openapi().get("paths", {})
    path = request.scope.get("path", "")
    items = [paths[path]] if path in paths else [i for t, i in paths.items() if compile_path(t)[0].match(path)]
    methods = {method.upper() for item in items for method in item if method in {"get", "put", "post", "delete", "patch"}}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


def document_agora_errors(app: FastAPI) -> None:
    """Every error the sandbox answers, in the OpenAPI document, with AGORA's error schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["AgoraError"] = AGORA_ERROR_SCHEMA
            for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, not AGORA's
                schemas.pop(name, None)
            _document_operation_data(schemas)
            for path, item in document.get("paths", {}).items():
                for method, operation in item.items():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    for status in sorted(_agora_errors_of(path, method, operation), key=str):
                        responses[str(status)] = {
                            "description": AGORA_ERRORS[status],
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AgoraError"}}},
                        }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _json(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
