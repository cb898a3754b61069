"""The sandbox's endpoints (docs/france-travail.md): certificates, job seekers, faults."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from france_travail_sandbox import contract as c
from france_travail_sandbox.faults import FaultCounters, FaultInjector, Unavailable
from france_travail_sandbox.settings import FranceTravailSandboxSettings
from france_travail_sandbox.store import FranceTravailStore, Refused


@dataclass
class Sandbox:
    settings: FranceTravailSandboxSettings
    store: FranceTravailStore
    faults: FaultInjector


def get_sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
_bearer = HTTPBearer(auto_error=False)


class NotAuthorised(Exception):
    pass


async def authorised(sandbox: SandboxDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    expected = sandbox.settings.token.get_secret_value()
    if credentials is None or not secrets.compare_digest(credentials.credentials, expected):
        raise NotAuthorised()


# Every route behind the token says its 401 (France Travail's refusal shape, not problem+json).
router = APIRouter(dependencies=[Depends(authorised)], responses={
    401: {"model": c.Refusal, "description": "No or wrong bearer token"},
    400: {"model": c.Refusal, "description": "A body that is not JSON (unreadable_body)"},
    422: {"model": c.Refusal, "description": "The request breaks its schema (invalid_payload, naming the field)"},
})
health = APIRouter()


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(c.Refusal(code=code, message=message).model_dump(), status_code=status)


@router.post("/v1/certificates", response_model=c.CertificateAnswer,
             responses={422: {"model": c.Refusal, "description": "Refused by code (France Travail's rules, or the body)"},
                        409: {"model": c.Refusal, "description": "The Idempotency-Key was used with another body"},
                        500: {"model": c.Refusal, "description": "Injected fault (errors_next): nothing processed"},
                        503: {"model": c.Refusal, "description": "Injected fault (down, duplicates_next): unavailable"}})
async def post_certificate(
    body: c.CertificateRequest, sandbox: SandboxDep,
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255)],
):
    """One certificate; a replayed Idempotency-Key answers the first answer (`replayed: true`)."""
    try:
        stored = sandbox.store.replay(idempotency_key, body)
        if stored is not None:
            return JSONResponse({**stored.body, "replayed": True} if stored.status == 200 else stored.body, status_code=stored.status)
        refusal = await sandbox.faults.before(body.kind.value, body.france_travail_id)
        if refusal is not None:
            return JSONResponse(refusal.model_dump(), status_code=422)  # not kept: a resend is processed
        stored = sandbox.store.certify(idempotency_key, body)
        await sandbox.faults.after()
    except Refused as refused:
        return _refusal(409, refused.code, refused.message)
    except Unavailable as unavailable:
        return _refusal(unavailable.status, "unavailable", unavailable.message)
    return JSONResponse(stored.body, status_code=stored.status)


@router.get("/v1/certificates")
async def list_certificates(sandbox: SandboxDep, reference: Annotated[str, Query(max_length=64)]) -> dict:
    """What was acknowledged for one file, in the order received."""
    return {"reference": reference, "certificates": sandbox.store.certificates.get(reference, [])}


@router.post("/v1/job-seekers", status_code=204)
async def register_job_seeker(body: c.JobSeeker, sandbox: SandboxDep) -> None:
    """Registers a job seeker and their benefit (tests and demos)."""
    sandbox.store.register(body)


@router.put("/v1/faults")
async def put_faults(body: c.Faults, sandbox: SandboxDep) -> c.Faults:
    sandbox.faults.set(body)
    return body


@router.get("/v1/faults")
async def get_faults(sandbox: SandboxDep) -> FaultCounters:
    return sandbox.faults.counters


@health.get("/health/live")
async def live() -> dict:
    return {"status": "ok"}
