"""The sandbox's endpoints (docs/agora-contract.md): operations, search, bulk load, holdings,
faults. Each one: check the bearer token, go through the injected faults, ask the store."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pacte_common.tracing import parse_traceparent, trace_id_of

from agora_sandbox import contract as c
from agora_sandbox.errors import rejection
from agora_sandbox.faults import FaultInjector, Faults
from agora_sandbox.settings import AgoraSandboxSettings
from agora_sandbox.store import Rejected, SandboxStore


@dataclass
class Sandbox:
    """What the endpoints share: the settings, the files held, the faults switched on."""

    settings: AgoraSandboxSettings
    store: SandboxStore
    faults: FaultInjector


def get_sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
_bearer = HTTPBearer(auto_error=False)
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]
TraceParent = Annotated[str | None, Header(alias="traceparent", max_length=255)]


async def authorised(
    sandbox: SandboxDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    expected = sandbox.settings.token.get_secret_value()
    if credentials is None or not secrets.compare_digest(credentials.credentials, expected):
        raise rejection(401, "unauthorized", "A valid bearer token is required")


router = APIRouter(dependencies=[Depends(authorised)])
health = APIRouter()


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a valid W3C `traceparent` header, else None."""
    return trace_id_of(parse_traceparent(traceparent))


def _require_key(key: str | None) -> str:
    if not key:
        raise rejection(400, "missing_idempotency_key", "Idempotency-Key header is required")
    return key


def _replayed(store: SandboxStore, key: str, payload: dict) -> JSONResponse | None:
    stored = store.replay(key, payload)
    if stored is None:
        return None
    return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})


@router.post("/v1/operations", summary="One operation on one file")
async def post_operation(
    body: c.OperationRequest, idempotency_key: IdemKey, sandbox: SandboxDep, traceparent: TraceParent = None
) -> JSONResponse:
    key, store = _require_key(idempotency_key), sandbox.store
    payload = body.model_dump(mode="json")
    try:
        replayed = _replayed(store, key, payload)
    except Rejected as rejected:
        return JSONResponse(rejected.body(), status_code=rejected.http_status)
    if replayed is not None:
        return replayed
    answer_late = await sandbox.faults.before(body.operation)
    if (replayed := _replayed(store, key, payload)) is not None:  # a resend may have come while we waited
        return replayed
    try:
        status, answer = 200, store.operate(body, key, _trace_id(traceparent))
    except Rejected as rejected:
        store.count_rejection(rejected.code)
        status, answer = rejected.http_status, rejected.body()
    store.remember(key, payload, status, answer)
    await sandbox.faults.late(answer_late)
    return JSONResponse(answer, status_code=status)


@router.post("/v1/files/search", summary="Search for a pre-existing file")
async def search_files(body: c.SearchRequest, sandbox: SandboxDep) -> dict:
    await sandbox.faults.before("search")
    return {"files": sandbox.store.search(body)}


@router.post("/v1/bulk/files", summary="Back-fill: whole files in one call")
async def bulk_load_files(
    body: c.BulkRequest, idempotency_key: IdemKey, sandbox: SandboxDep, traceparent: TraceParent = None
) -> JSONResponse:
    key, store, most = _require_key(idempotency_key), sandbox.store, sandbox.settings.max_bulk_files
    if len(body.files) > most:
        refused = c.Rejection(code="batch_too_large", message=f"At most {most} files per call")
        return JSONResponse(refused.model_dump(), status_code=413)
    payload = body.model_dump(mode="json")
    if (replayed := _replayed(store, key, payload)) is not None:
        return replayed
    answer_late = await sandbox.faults.before("bulk_load")
    if (replayed := _replayed(store, key, payload)) is not None:
        return replayed
    store.bulk_calls += 1
    trace_id = _trace_id(traceparent)
    answer = {"results": [store.bulk_one(raw, key, trace_id) for raw in body.files]}
    store.remember(key, payload, 200, answer)
    await sandbox.faults.late(answer_late)
    return JSONResponse(answer)


@router.get("/v1/holdings", summary="What the sandbox holds, and the duplicates it absorbed")
async def get_holdings(sandbox: SandboxDep, include_files: bool = False, funder_ref: str | None = None) -> dict:
    return sandbox.store.holdings(include_files, funder_ref) | {"faults_injected": sandbox.faults.counters.model_dump()}


@router.get("/v1/files/{agora_file_id}", summary="One file as AGORA holds it")
async def get_agora_file(agora_file_id: str, sandbox: SandboxDep) -> JSONResponse:
    held = sandbox.store.files.get(agora_file_id)
    if held is None:
        return JSONResponse(c.Rejection(code=c.UNKNOWN_FILE, message="No such file").model_dump(), status_code=404)
    return JSONResponse(_json(held.view()))


@router.get("/v1/faults")
async def get_faults(sandbox: SandboxDep) -> Faults:
    return sandbox.faults.faults


@router.put("/v1/faults", summary="Switch faults on (or off with an empty body)")
async def put_faults(faults: Faults, sandbox: SandboxDep) -> Faults:
    sandbox.faults.faults = faults
    return faults


@router.post("/v1/reset", summary="Forget everything (files, keys, counters, faults)")
async def reset_sandbox(sandbox: SandboxDep) -> dict:
    sandbox.store.reset()
    sandbox.faults.reset()
    return {"status": "reset"}


@health.get("/health/live")
async def health_live() -> dict:
    return {"status": "ok", "service": "agora-sandbox"}


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
