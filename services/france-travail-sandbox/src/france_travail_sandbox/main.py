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
    app.include_router(router)
    app.include_router(health)
    return app
