"""The gateway's HTTP API (docs/rules.md §6): files, flows, operator resend, back-fill jobs.

Every endpoint is for the Region's operators (`region` tokens): the gateway holds what
AGORA was told about every funded file, which no partner should browse. Routers parse,
authorise, call one use case of app/ (or read through db/), render.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from fastapi.responses import StreamingResponse
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import NotFound
from pacte_common.http import CursorParam, IfMatch, LimitParam, Page, etag
from pacte_common.idempotency import IdempotencyKey, answer_response
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, get_runtime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.api.presenters import backfill_job_out, dossier_out, flow_detail_out, flow_out
from agora_gateway.api.schemas import BackfillJobView, DossierView, FlowView
from agora_gateway.app import backfill, flows
from agora_gateway.db.models import BackfillJob, Flow
from agora_gateway.db.queries import (
    dossier_flows,
    find_flow,
    flows_query,
    get_dossier,
    waiting_reason,
)
from agora_gateway.domain.agora_file import Operation
from agora_gateway.domain.flows import FlowStatus
from agora_gateway.runtime import GatewayRuntime

Operator = Annotated[Principal, require_kind(OrgKind.REGION)]
Gateway = Annotated[GatewayRuntime, Depends(get_runtime)]


async def _read_db(runtime: Gateway):
    """A session for reads that never wait for the SQLite write lock (db/reading.py)."""
    async with runtime.readers()() as db:
        yield db


ReadDb = Annotated[AsyncSession, Depends(_read_db)]

log = logging.getLogger(__name__)

router = APIRouter(tags=["agora"])


@router.get("/dossiers/{dossier_id}", summary="What AGORA was told about a file, flow by flow")
async def get_dossier_view(dossier_id: uuid.UUID, db: ReadDb, runtime: Gateway, _: Operator) -> DossierView:
    dossier = await get_dossier(db, dossier_id)
    if dossier is None:
        raise NotFound(f"The gateway knows no file {dossier_id}")
    flow_list = await dossier_flows(db, dossier_id)
    create_without_nir = runtime.settings.create_without_nir
    waiting = any(waiting_reason(f, dossier.has_nir, create_without_nir) for f in flow_list)
    return dossier_out(dossier, flow_list, waiting)


@router.get(
    "/flows",
    summary="Flows by status (rejected, pending, sent, acknowledged, excluded, delegated); "
    "a pending flow held for its file's NIR says so (waiting_reason: waiting_for_nir)",
)
async def list_flows(
    db: ReadDb,
    runtime: Gateway,
    _: Operator,
    status: Annotated[FlowStatus | None, Query()] = None,
    dossier_id: Annotated[uuid.UUID | None, Query()] = None,
    operation: Annotated[Operation | None, Query()] = None,
    origin: Annotated[str | None, Query(pattern="^(live|backfill)$")] = None,
    waiting_for_nir: Annotated[
        bool | None, Query(description="Only the flows held until their file's NIR comes (true), or none of them (false)")
    ] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> Page[FlowView]:
    create_without_nir = runtime.settings.create_without_nir
    query = flows_query(status=status, dossier_id=dossier_id, operation=operation, origin=origin,
                        waiting_for_nir=waiting_for_nir, create_without_nir=create_without_nir)

    def render(row) -> FlowView:
        flow, traceparent, has_nir = row
        return flow_out(flow, traceparent=traceparent, waiting_reason=waiting_reason(flow, has_nir, create_without_nir))

    return await keyset_page(db, query, by_instant(Flow.created_at, Flow.id), cursor=cursor, limit=limit,
                             render=render, entities=False)


@router.get("/flows/{flow_id}", summary="One flow, with its transition log")
async def get_flow(flow_id: uuid.UUID, db: ReadDb, runtime: Gateway, response: Response, _: Operator) -> FlowView:
    flow = await find_flow(db, flow_id)
    if flow is None:
        raise NotFound(f"No flow {flow_id}")
    response.headers["ETag"] = etag(flow.version)
    return await flow_detail_out(db, flow, runtime.settings.create_without_nir)


@router.post("/flows/{flow_id}/retry", summary="Resend a rejected flow after the data was fixed")
async def retry_flow(
    flow_id: uuid.UUID, db: DbSession, runtime: Gateway, response: Response, principal: Operator, if_match: IfMatch = None
) -> FlowView:
    flow = await flows.retry(db, runtime, flow_id, if_match=if_match, actor=principal.describe())
    response.headers["ETag"] = etag(flow.version)
    return await flow_detail_out(db, flow, runtime.settings.create_without_nir)


# ---------------------------------------------------------------- back-fill


@router.post(
    "/backfill",
    status_code=202,
    response_model=BackfillJobView,
    summary="Start a back-fill from an export file (NDJSON)",
    openapi_extra={"x-body-limit-setting": "backfill_max_bytes"},
)
async def start_backfill(
    db: DbSession,
    runtime: Gateway,
    principal: Operator,
    file: Annotated[UploadFile, File(description="The export: one JSON object per line (docs/agora-contract.md)",
                                     json_schema_extra={"format": "binary"})],  # a file to generated clients
    idempotency_key: IdempotencyKey = None,
):
    answer = await backfill.start(db, runtime, principal, file, idempotency_key, render=backfill_job_out)
    return answer_response(answer, headers=None if answer.replayed else {"Location": f"/backfill/{answer.body['job_id']}"})


@router.get("/backfill/{job_id}", summary="A back-fill's progress and report")
async def get_backfill(job_id: uuid.UUID, db: ReadDb, _: Operator) -> BackfillJobView:
    job = await db.get(BackfillJob, job_id)
    if job is None:
        raise NotFound(f"No back-fill job {job_id}")
    return backfill_job_out(job)


@router.get("/backfill", summary="Back-fill jobs, newest first")
async def list_backfills(db: ReadDb, _: Operator) -> list[BackfillJobView]:
    jobs = (await db.execute(select(BackfillJob).order_by(BackfillJob.created_at.desc()).limit(100))).scalars()
    return [backfill_job_out(job) for job in jobs]


@router.get(
    "/backfill/{job_id}/rejections",
    summary="The lines not loaded (unreadable, without NIR, or rejected by AGORA), as NDJSON",
    response_class=StreamingResponse,
)
async def backfill_rejections(job_id: uuid.UUID, db: ReadDb, runtime: Gateway, operator: Operator) -> StreamingResponse:
    if await db.get(BackfillJob, job_id) is None:
        raise NotFound(f"No back-fill job {job_id}")
    # The lines carry identities (what the operator must fix): access to personal data is logged.
    log.info("personal data read", extra={"who": operator.describe(), "backfill_job": str(job_id), "what": "rejected lines"})
    return StreamingResponse(
        backfill.rejected_lines(runtime, job_id),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="backfill-{job_id}-rejections.ndjson"'},
    )
