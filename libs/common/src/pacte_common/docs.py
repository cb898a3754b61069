"""The service's interface as operators and clients read it: `/docs`, `/redoc`, `/openapi.json`.

`/docs` (Swagger UI) and `/redoc` (ReDoc) are served from the service itself, never from a CDN.

The operators' interface must work on a machine without internet (docs/openapi.md): the assets
come from the pinned `fastapi-offline` distribution (Swagger UI bundle, its CSS, ReDoc
standalone) and are served under `/docs-assets`. Swagger UI opens with the bearer scheme of
`pacte_common.auth` (button *Authorize*, paste a token from `pacte token`), keeps the pasted
token across reloads and shows each operation's duration.

`/openapi.json` tells the truth about errors (docs/openapi.md): `install_problem_responses` adds to
every operation the problems it can really answer, as `application/problem+json` with the
`Problem` schema (`ValidationProblem` for 422), from what the route declares: a bearer scheme
→ 401 and 403, a path parameter → 404, a write method → 409, `If-Match` → 412, a body → 413,
a body → 400 (undecodable) and 413, any parameter or body → 422. A route adds its own (428, 503…) with FastAPI's `responses=`;
the media type and schema are filled in here, so no route repeats them.

Operation ids are the route functions' names (`operation_id`), so a client generated from the
document reads `create_prescription`, not `create_prescription_prescriptions_post`; the shape
test keeps them unique per document (docs/conventions.md §2.1).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from pacte_common.errors import PROBLEM_JSON

ASSETS_PATH = "/docs-assets"
ASSETS_DIRECTORY = Path(fastapi_offline.__file__).parent / "static"
REDOC_SCRIPT = "redoc.standalone.js"
# The only address outside the service that ReDoc's bundle loads (its side-menu logo).
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
SWAGGER_UI_PARAMETERS = {
    "displayRequestDuration": True,
    "tryItOutEnabled": False,
    "defaultModelsExpandDepth": 0,
}


def operation_id(route: APIRoute) -> str:
    """The operation id of a route: its function's name (FastAPI's `generate_unique_id_function`)."""
    return route.name


def install_offline_docs(app: FastAPI, persist_authorization: bool = False) -> None:
    """Replace FastAPI's CDN-backed `/docs` and `/redoc` with pages using the packaged assets.

    Swagger UI keeps the bearer token in localStorage only with `persist_authorization`
    (development): elsewhere a token pasted there must not outlive the tab."""
    docs_url, redoc_url = app.docs_url or "/docs", app.redoc_url or "/redoc"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    replaced = {docs_url, redoc_url, redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if not (isinstance(r, Route) and r.path in replaced)]
    app.docs_url, app.redoc_url = docs_url, redoc_url
    @app.get(f"{ASSETS_PATH}/{REDOC_SCRIPT}", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(_offline_redoc_script(), media_type="text/javascript")

    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIRECTORY), name="docs-assets")

    def assets(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_PATH}"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} — Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{assets(request)}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets(request)}/swagger-ui.css",
            swagger_favicon_url=f"{assets(request)}/favicon.png",
            swagger_ui_parameters={
                **SWAGGER_UI_PARAMETERS, "persistAuthorization": persist_authorization, **(app.swagger_ui_parameters or {})
            },
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{assets(request)}/{REDOC_SCRIPT}",
            redoc_favicon_url=f"{assets(request)}/favicon.png",
            with_google_fonts=False,
        )


@cache
def _offline_redoc_script() -> str:
    """ReDoc's bundle with its CDN logo pointed at the packaged favicon: nothing leaves the host."""
    script = (ASSETS_DIRECTORY / REDOC_SCRIPT).read_text(encoding="utf-8")
    return script.replace(REDOC_CDN_LOGO, f"{ASSETS_PATH}/favicon.png")


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details (docs/problems.md); extensions per problem type",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "Stable URI of the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path"},
        "current_state": {"type": "string", "description": "409 on a state machine: the state now"},
        "allowed_actions": {"type": "array", "items": {"type": "string"}},
        "current_etag": {"type": "string", "description": "412: the resource's ETag now"},
        "limit_bytes": {"type": "integer", "description": "413: the body limit of the route"},
    },
    "additionalProperties": True,
}
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "description": "422: every invalid field, named by its location (`body.birth_date`, `query.cursor`)",
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            "type": "object",
            "required": ["errors"],
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                            "code": {"type": ["string", "null"]},
                        },
                    },
                }
            },
        },
    ],
}
PROBLEM_DESCRIPTIONS = {
    400: "The body cannot be read in its declared media type (not UTF-8, not JSON)",
    401: "No valid bearer token (missing, expired, badly signed, wrong audience)",
    403: "The caller's organisation may not do this",
    404: "Not found, or not visible to the caller",
    409: "Conflict with the current state (`current_state`, `allowed_actions` on a state machine)",
    412: "`If-Match` does not match the current ETag (`current_etag`)",
    413: "The request body passes the route's limit (`limit_bytes`); refused while it streams in",
    422: "Invalid request: `errors[].field` names each invalid field",
    428: "`If-Match` header required",
    429: "Too many requests from this client for this kind of route: retry after `Retry-After` seconds",
    503: "Busy or a dependency is unavailable: nothing was done; retry after `Retry-After` seconds",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}
RETRY_AFTER_HEADER = {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}


def problems_of(method: str, operation: dict[str, Any]) -> set[int]:
    """The problems an operation can answer, from what it declares."""
    problems: set[int] = set()
    parameters = operation.get("parameters", [])
    if operation.get("security"):
        problems |= {401, 403}
    if any(p.get("in") == "path" for p in parameters):
        problems.add(404)
    if method in WRITE_METHODS:
        problems |= {409, 503}  # 503: the database's write lock not free in time (Retry-After)
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in parameters):
        problems.add(412)
    if "requestBody" in operation:
        problems |= {400, 413, 422}  # 400: a body that is not even text in its declared media type
    if parameters:
        problems.add(422)
    return problems


def add_problem_responses(document: dict[str, Any]) -> dict[str, Any]:
    """Every error response of every operation as problem+json with its schema (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    schemas["ValidationProblem"] = copy.deepcopy(VALIDATION_PROBLEM_SCHEMA)
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for status in sorted(declared | problems_of(method, operation)):
                response = responses.setdefault(str(status), {})
                response["description"] = response.get("description") or PROBLEM_DESCRIPTIONS.get(status, "Problem")
                if response["description"] == "Validation Error":
                    response["description"] = PROBLEM_DESCRIPTIONS[422]
                schema = "ValidationProblem" if status == 422 else "Problem"
                response["content"] = {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
                if status in (429, 503):
                    response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER
            operation["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shapes, replaced above
        if name in schemas and f'"#/components/schemas/{name}"' not in json.dumps(document):
            del schemas[name]
    return document


def install_problem_responses(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
