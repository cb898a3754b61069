"""The AGORA sandbox app: `uvicorn --factory agora_sandbox.main:create_app --port 8005`.

Implements the AGORA contract (docs/agora-contract.md) for the dev
stack and the tests, keeps what it received (in memory, with the trace id of each call's
`traceparent`), answers a replayed Idempotency-Key with the first answer, and injects faults
on demand (latency, a rate of 503s, timeouts, rejections with chosen codes).
"""

from __future__ import annotations

from fastapi import FastAPI
from pacte_common.docs import install_offline_docs, operation_id
from pacte_common.http import SecurityHeadersMiddleware

from agora_sandbox import contract as c
from agora_sandbox.api import Sandbox, health, router
from agora_sandbox.errors import install_agora_errors
from agora_sandbox.faults import FaultInjector
from agora_sandbox.openapi import document_agora_errors
from agora_sandbox.settings import AgoraSandboxSettings
from agora_sandbox.store import SandboxStore


def create_app(settings: AgoraSandboxSettings | None = None) -> FastAPI:
    settings = settings or AgoraSandboxSettings()
    store = SandboxStore()
    app = FastAPI(
        title="AGORA sandbox",
        description="Development stand-in for AGORA (Caisse des dépôts), contract v" + c.CONTRACT_VERSION,
        version=c.CONTRACT_VERSION,
        generate_unique_id_function=operation_id,
    )
    app.state.store = store
    app.state.sandbox = Sandbox(settings, store, FaultInjector(settings, store))
    install_offline_docs(app)  # a development stand-in: its tokens are the sandbox's own
    app.add_middleware(SecurityHeadersMiddleware)
    install_agora_errors(app)
    app.include_router(router)
    app.include_router(health)
    document_agora_errors(app)
    return app
