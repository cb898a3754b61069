"""The gateway's HTTP API (DESIGN.md §7): files, flows, operator resend, back-fill jobs.

Every endpoint is for the Region's operators (`region` tokens): the gateway holds what
AGORA was told about every funded file, which no partner should browse.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile
from fastapi.responses import StreamingResponse
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.db import utcnow
from pacte_common.errors import InvalidTransition, NotFound
from pacte_common.http import (
    CursorParam,
    IfMatch,
    LimitParam,
    Page,
    check_if_match,
    decode_cursor,
    encode_cursor,
    etag,
    instant_key,
    key_instant,
)
from pacte_common.idempotency import IdempotencyKey, idempotent_create
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy import and_, false, or_, select

from agora_gateway.api.schemas import BackfillJobView, DossierView, FlowView
from agora_gateway.backfill.worker import LINE_CONTEXT, JobStatus
from agora_gateway.db.models import BackfillJob, BackfillRejection, Dossier, Flow, FlowTransitionLog
from agora_gateway.db.queries import NIR_FIRST, get_dossier, move, waiting_reason
from agora_gateway.db.reading import ReadSession, read_sessions
from agora_gateway.domain.agora_file import Operation
from agora_gateway.domain.backfill import BackfillReport
from agora_gateway.domain.flows import FlowAction, FlowStatus
from agora_gateway.settings import AgoraGatewaySettings

Operator = Annotated[Principal, require_kind(OrgKind.REGION)]

log = logging.getLogger(__name__)

router = APIRouter(tags=["agora"])


async def _waiting_for_nir(dossier, flows: list[Flow], settings: AgoraGatewaySettings) -> bool:
    return any(waiting_reason(f, dossier.has_nir, settings.create_without_nir) for f in flows)


@router.get("/dossiers/{dossier_id}", summary="What AGORA was told about a file, flow by flow")
async def get_dossier_view(dossier_id: uuid.UUID, session: ReadSession, runtime: RuntimeDep, _: Operator) -> DossierView:
    dossier = await get_dossier(session, dossier_id)
    if dossier is None:
        raise NotFound(f"The gateway knows no file {dossier_id}")
    flows = list((await session.execute(select(Flow).where(Flow.dossier_id == dossier_id).order_by(Flow.sequence))).scalars())
    return DossierView.of(dossier, flows, await _waiting_for_nir(dossier, flows, runtime.settings))


@router.get(
    "/flows",
    summary="Flows by status (rejected, pending, sent, acknowledged, excluded, delegated); "
    "a pending flow held for its file's NIR says so (waiting_reason: waiting_for_nir)",
)
async def list_flows(
    session: ReadSession,
    runtime: RuntimeDep,
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
    create_without_nir = runtime.settings.create_without_nir  # type: ignore[attr-defined]
    query = select(Flow, Dossier.traceparent, Dossier.has_nir).join(Dossier, Dossier.id == Flow.dossier_id)
    if waiting_for_nir is not None:
        held = and_(
            Flow.status == FlowStatus.PENDING.value, Flow.operation.in_(NIR_FIRST), Dossier.has_nir.is_(False)
        ) if not create_without_nir else false()
        query = query.where(held if waiting_for_nir else ~held)
    if status is not None:
        query = query.where(Flow.status == status.value)
    if dossier_id is not None:
        query = query.where(Flow.dossier_id == dossier_id)
    if operation is not None:
        query = query.where(Flow.operation == operation.value)
    if origin is not None:
        query = query.where(Flow.origin == origin)
    after = decode_cursor(cursor)
    if after:
        at, flow_id = key_instant(after.key), after.id
        query = query.where(or_(Flow.created_at > at, and_(Flow.created_at == at, Flow.id > flow_id)))
    rows = list((await session.execute(query.order_by(Flow.created_at, Flow.id).limit(limit + 1))).tuples())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(instant_key(rows[-1][0].created_at), rows[-1][0].id)
    return Page[FlowView](
        items=[
            FlowView.of(f, traceparent=traceparent, waiting_reason=waiting_reason(f, has_nir, create_without_nir))
            for f, traceparent, has_nir in rows
        ],
        next_cursor=next_cursor,
    )


async def _flow(session, flow_id: uuid.UUID, *, for_update: bool = False) -> Flow:
    query = select(Flow).where(Flow.id == flow_id)
    if for_update:
        query = query.with_for_update()
    flow = (await session.execute(query)).scalar_one_or_none()
    if flow is None:
        raise NotFound(f"No flow {flow_id}")
    return flow


async def _flow_view(session, flow: Flow, create_without_nir: bool) -> FlowView:
    transitions = list(
        (await session.execute(select(FlowTransitionLog).where(FlowTransitionLog.flow_id == flow.id).order_by(FlowTransitionLog.id))).scalars()
    )
    traceparent, has_nir = (
        await session.execute(select(Dossier.traceparent, Dossier.has_nir).where(Dossier.id == flow.dossier_id))
    ).one()
    return FlowView.of(
        flow, traceparent=traceparent, transitions=transitions, waiting_reason=waiting_reason(flow, has_nir, create_without_nir)
    )


@router.get("/flows/{flow_id}", summary="One flow, with its transition log")
async def get_flow(flow_id: uuid.UUID, session: ReadSession, runtime: RuntimeDep, response: Response, _: Operator) -> FlowView:
    flow = await _flow(session, flow_id)
    response.headers["ETag"] = etag(flow.version)
    return await _flow_view(session, flow, runtime.settings.create_without_nir)  # type: ignore[attr-defined]


@router.post("/flows/{flow_id}/retry", summary="Resend a rejected flow after the data was fixed")
async def retry_flow(
    flow_id: uuid.UUID, session: DbSession, runtime: RuntimeDep, response: Response, principal: Operator, if_match: IfMatch = None
) -> FlowView:
    flow = await _flow(session, flow_id, for_update=True)
    check_if_match(if_match, flow.version)
    if flow.status != FlowStatus.REJECTED.value:
        raise InvalidTransition("retry", flow.status, ["retry"] if flow.status == FlowStatus.REJECTED.value else [])
    previous = f"{flow.rejection_code}: {flow.rejection_message}"
    move(flow, FlowAction.RETRY, session, actor=principal.describe(), reason=f"operator resend after {previous}")
    # A new revision: a new idempotency key, and the body rebuilt from the file's current
    # data (a back-filled file is resent as exported).
    flow.revision += 1
    if flow.operation != Operation.BULK_LOAD.value:
        flow.request_encrypted = None
    flow.first_sent_at = None
    flow.rejection_code = flow.rejection_message = None
    flow.failed_claims = 0
    flow.next_attempt_at = utcnow()
    await session.commit()
    wake = runtime.extras.get("dispatch_wakeup")
    if wake is not None:
        wake.set()
    response.headers["ETag"] = etag(flow.version)
    return await _flow_view(session, flow, runtime.settings.create_without_nir)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- back-fill


@router.post(
    "/backfill",
    status_code=202,
    summary="Start a back-fill from an export file (NDJSON)",
    openapi_extra={"x-body-limit-setting": "backfill_max_bytes"},
)
async def start_backfill(
    session: DbSession,
    runtime: RuntimeDep,
    principal: Operator,
    file: Annotated[UploadFile, File(description="The export: one JSON object per line (docs/agora-contract.md)")],
    idempotency_key: IdempotencyKey = None,
):
    settings: AgoraGatewaySettings = runtime.settings  # type: ignore[assignment]
    folder = Path(settings.data_dir) / settings.backfill_dir_name
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    job_id = uuid.uuid4()
    path = folder / f"{job_id}.ndjson"
    digest = hashlib.sha256()
    size = 0
    target = await asyncio.to_thread(path.open, "wb")
    try:  # streamed chunk by chunk: memory stays flat whatever the file's size
        while chunk := await file.read(settings.backfill_upload_chunk_bytes):
            digest.update(chunk)
            await asyncio.to_thread(target.write, chunk)
            size += len(chunk)
    finally:
        await asyncio.to_thread(target.close)
    filename = (file.filename or "export.ndjson")[:255]
    created = False

    async def create():
        nonlocal created
        job = BackfillJob(
            id=job_id,
            status=JobStatus.QUEUED,
            filename=filename,
            file_path=str(path.resolve()),
            sha256=digest.hexdigest(),
            size_bytes=size,
            byte_offset=0,
            line_no=0,
            next_batch=1,
            report=BackfillReport().as_dict(),
            created_by=principal.describe(),
            created_at=utcnow(),
        )
        session.add(job)
        created = True
        return 202, BackfillJobView.of(job)

    try:
        answer = await idempotent_create(
            session,
            runtime.tables,
            hasher=runtime.hasher,
            principal=principal,
            operation="start-backfill",
            key=idempotency_key,
            payload={"sha256": digest.hexdigest(), "size": size, "filename": filename},
            create=create,
        )
    except Exception:
        await asyncio.to_thread(path.unlink, True)  # the export holds NIRs in clear: never left behind
        raise
    if answer.headers.get("Idempotent-Replayed"):
        await asyncio.to_thread(path.unlink, True)  # the first upload's job runs; this copy is not needed
    else:
        answer.headers["Location"] = f"/backfill/{job_id}"
        wake = runtime.extras.get("backfill_wakeup")
        if wake is not None:
            wake.set()
    return answer


@router.get("/backfill/{job_id}", summary="A back-fill's progress and report")
async def get_backfill(job_id: uuid.UUID, session: ReadSession, _: Operator) -> BackfillJobView:
    job = await session.get(BackfillJob, job_id)
    if job is None:
        raise NotFound(f"No back-fill job {job_id}")
    return BackfillJobView.of(job)


@router.get("/backfill", summary="Back-fill jobs, newest first")
async def list_backfills(session: ReadSession, _: Operator) -> list[BackfillJobView]:
    jobs = (await session.execute(select(BackfillJob).order_by(BackfillJob.created_at.desc()).limit(100))).scalars()
    return [BackfillJobView.of(job) for job in jobs]


@router.get(
    "/backfill/{job_id}/rejections",
    summary="The lines not loaded (unreadable, without NIR, or rejected by AGORA), as NDJSON",
    response_class=StreamingResponse,
)
async def backfill_rejections(job_id: uuid.UUID, session: ReadSession, runtime: RuntimeDep, operator: Operator) -> StreamingResponse:
    if await session.get(BackfillJob, job_id) is None:
        raise NotFound(f"No back-fill job {job_id}")
    # The lines carry identities (what the operator must fix): access to personal data is logged.
    log.info("personal data read", extra={"who": operator.describe(), "backfill_job": str(job_id), "what": "rejected lines"})
    factory, cipher = read_sessions(runtime), runtime.cipher

    async def lines():
        last_id, page = 0, 1000
        while True:
            async with factory() as reader:
                rows = list(
                    (
                        await reader.execute(
                            select(BackfillRejection)
                            .where(BackfillRejection.job_id == job_id, BackfillRejection.id > last_id)
                            .order_by(BackfillRejection.id)
                            .limit(page)
                        )
                    ).scalars()
                )
            for row in rows:
                yield json.dumps(
                    {
                        "line_no": row.line_no,
                        "dossier_id": row.dossier_id,
                        "stage": row.stage,
                        "code": row.code,
                        "message": row.message,
                        "line": cipher.decrypt(row.line_encrypted, context=LINE_CONTEXT),
                    },
                    ensure_ascii=False,
                ) + "\n"
            if len(rows) < page:
                return
            last_id = rows[-1].id

    return StreamingResponse(
        lines(), media_type="application/x-ndjson", headers={"Content-Disposition": f'attachment; filename="backfill-{job_id}-rejections.ndjson"'}
    )
