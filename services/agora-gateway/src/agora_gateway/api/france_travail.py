"""The gateway's France Travail API (docs/france-travail.md): certificates by state, a file's
certificates, the operator's resend, the delegation reconciliation report. For the Region's operators; identifiers only masked."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import NotFound
from pacte_common.http import CursorParam, IfMatch, LimitParam, Page, etag
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, get_runtime
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.api.presenters import (
    delegated_file_out,
    ft_file_out,
    ft_flow_detail_out,
    ft_flow_out,
)
from agora_gateway.api.schemas import DelegatedFileView, FtFileView, FtFlowView
from agora_gateway.app import france_travail
from agora_gateway.db.france_travail import (
    certificates_of,
    delegated_files_query,
    delegated_flows_of,
    find_ft_flow,
    ft_file_flows,
    ft_flows_query,
    get_ft_file,
)
from agora_gateway.db.models import Dossier, FtFlow
from agora_gateway.domain.france_travail import FtOperation
from agora_gateway.domain.outbound import FlowStatus
from agora_gateway.runtime import GatewayRuntime

Operator = Annotated[Principal, require_kind(OrgKind.REGION)]
Gateway = Annotated[GatewayRuntime, Depends(get_runtime)]


async def _read_db(runtime: Gateway):
    async with runtime.readers()() as db:
        yield db


ReadDb = Annotated[AsyncSession, Depends(_read_db)]

router = APIRouter(prefix="/france-travail", tags=["france-travail"])


@router.get("/files/{dossier_id}", summary="What France Travail was told about a file, certificate by certificate")
async def get_ft_file_view(dossier_id: uuid.UUID, db: ReadDb, _: Operator) -> FtFileView:
    file = await get_ft_file(db, dossier_id)
    if file is None:
        raise NotFound(f"The gateway knows no France Travail file {dossier_id}")
    return ft_file_out(file, await ft_file_flows(db, dossier_id))


@router.get("/flows", summary="France Travail certificates by status; those held for a missing identifier say so")
async def list_ft_flows(
    db: ReadDb,
    _: Operator,
    status: Annotated[FlowStatus | None, Query()] = None,
    dossier_id: Annotated[uuid.UUID | None, Query()] = None,
    operation: Annotated[FtOperation | None, Query()] = None,
    waiting_for_identifier: Annotated[
        bool | None, Query(description="Only the certificates held until the person's identifier comes (true), or none of them")
    ] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> Page[FtFlowView]:
    query = ft_flows_query(status=status, dossier_id=dossier_id, operation=operation.value if operation else None,
                           waiting_for_identifier=waiting_for_identifier)

    def render(row) -> FtFlowView:
        flow, masked, has_identifier = row
        return ft_flow_out(flow, identifier_masked=masked, has_identifier=has_identifier)

    return await keyset_page(db, query, by_instant(FtFlow.created_at, FtFlow.id), cursor=cursor, limit=limit,
                             render=render, entities=False)


@router.get("/flows/{flow_id}", summary="One France Travail certificate, with its transition log")
async def get_ft_flow(flow_id: uuid.UUID, db: ReadDb, response: Response, _: Operator) -> FtFlowView:
    flow = await find_ft_flow(db, flow_id)
    if flow is None:
        raise NotFound(f"No France Travail flow {flow_id}")
    response.headers["ETag"] = etag(flow.version)
    return await ft_flow_detail_out(db, flow)


@router.post("/flows/{flow_id}/retry", summary="Resend a refused France Travail certificate after the data was corrected")
async def retry_ft_flow(
    flow_id: uuid.UUID, db: DbSession, runtime: Gateway, response: Response, principal: Operator, if_match: IfMatch = None
) -> FtFlowView:
    flow = await france_travail.retry(db, runtime, flow_id, if_match=if_match, actor=principal.describe())
    response.headers["ETag"] = etag(flow.version)
    return await ft_flow_detail_out(db, flow)


@router.get("/delegation-report",
            summary="Files of delegated programmes: each AGORA operation, when it was due, and the France Travail "
                    "certificate that carries it")
async def delegation_report(db: ReadDb, _: Operator, cursor: CursorParam = None, limit: LimitParam = 100) -> Page[DelegatedFileView]:
    page = await keyset_page(db, delegated_files_query(), by_instant(Dossier.created_at, Dossier.id), cursor=cursor,
                             limit=limit, render=lambda dossier: dossier)
    ids = {dossier.id for dossier in page.items}
    delegated, certificates = await delegated_flows_of(db, ids), await certificates_of(db, ids)
    return Page(items=[delegated_file_out(d, delegated[d.id], certificates[d.id]) for d in page.items],
                next_cursor=page.next_cursor)
