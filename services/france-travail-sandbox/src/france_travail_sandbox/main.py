"""The France Travail sandbox app: `uvicorn --factory france_travail_sandbox.main:create_app --port 8009`.

Implements the France Travail contract of docs/france-travail.md (designed from the Pacte's
needs, not from France Travail's private specification) for the dev stack and the tests,
in memory, and injects faults on demand (PUT /v1/faults).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pacte_common.docs import install_offline_docs, operation_id
from pacte_common.http import SecurityHeadersMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from france_travail_sandbox import contract as c
from france_travail_sandbox.api import NotAuthorised, Sandbox, health, router
from france_travail_sandbox.faults import FaultInjector
from france_travail_sandbox.settings import FranceTravailSandboxSettings
from france_travail_sandbox.store import FranceTravailStore


async def _unauthorised(request: Request, exc: NotAuthorised) -> JSONResponse:
    return JSONResponse(c.Refusal(code="unauthorized", message="A valid bearer token is required").model_dump(), status_code=401)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
    return JSONResponse(c.Refusal(code="invalid_payload", message=fields).model_dump(), status_code=422)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own refusals (a body that is not JSON, a wrong method) in France Travail's
    shape; a 405 names every method of the path, as the document gives them."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_documented_methods(request))
    code = {400: "unreadable_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(c.Refusal(code=code, message=str(exc.detail)).model_dump(), status_code=exc.status_code, headers=headers)


def _documented_methods(request: Request) -> list[str]:
    paths = request.app.openapi().get("paths", {})
    path = request.scope.get("path", "")
    items = [i for template, i in paths.items() if compile_path(template)[0].match(path)]
    methods = {method.upper() for item in items for method in item if method in {"get", "put", "post", "delete", "patch"}}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


def create_app(settings: FranceTravailSandboxSettings | None = None) -> FastAPI:
    settings = settings or FranceTravailSandboxSettings()
    store = FranceTravailStore(settings)
    app = FastAPI(
        title="France Travail sandbox",
        description="Development stand-in for France Travail's training certificates, contract v" + c.CONTRACT_VERSION,
        version=c.CONTRACT_VERSION,
        generate_unique_id_function=operation_id,
    )
    app.state.store = store
    app.state.sandbox = Sandbox(settings, store, FaultInjector())
    install_offline_docs(app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(NotAuthorised, _unauthorised)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.include_router(router)
    app.include_router(health)
    return app
