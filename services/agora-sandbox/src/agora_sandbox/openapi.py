"""The sandbox's OpenAPI document: every error it answers, in AGORA's own error shape, and the
body of each operation."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.routing import compile_path

from agora_sandbox import contract as c

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


def documented_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives this path: its own entry when the path is
    literally one (`/v1/files/search`), else every template that matches it."""
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
