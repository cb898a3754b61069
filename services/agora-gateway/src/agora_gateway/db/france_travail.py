"""Queries on France Travail's queue (`ft_files`, `ft_flows`); callers in app/ own the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.db import outbound
from agora_gateway.db.models import Dossier, Flow, FtFile, FtFlow, FtFlowTransitionLog
from agora_gateway.domain.outbound import FlowStatus


async def ft_files_for_update(db: AsyncSession, dossier_ids: set[uuid.UUID]) -> dict[uuid.UUID, FtFile]:
    """These files, locked, in one statement (in id order)."""
    return await ft_files(db, dossier_ids, for_update=True)


async def ft_files(db: AsyncSession, dossier_ids: set[uuid.UUID], *, for_update: bool = False) -> dict[uuid.UUID, FtFile]:
    """These files in one statement (in id order when locked)."""
    query = select(FtFile).where(FtFile.id.in_(dossier_ids))
    if for_update:
        query = query.order_by(FtFile.id).with_for_update()
    return {file.id: file for file in (await db.execute(query)).scalars()}


async def get_ft_file(db: AsyncSession, dossier_id: uuid.UUID, *, for_update: bool = False) -> FtFile | None:
    query = select(FtFile).where(FtFile.id == dossier_id)
    if for_update:
        query = query.with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def find_ft_flow(db: AsyncSession, flow_id: uuid.UUID, *, for_update: bool = False) -> FtFlow | None:
    query = select(FtFlow).where(FtFlow.id == flow_id)
    if for_update:
        query = query.with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def ft_file_flows(db: AsyncSession, dossier_id: uuid.UUID) -> list[FtFlow]:
    return list((await db.execute(select(FtFlow).where(FtFlow.dossier_id == dossier_id).order_by(FtFlow.sequence))).scalars())


async def ft_flow_transitions(db: AsyncSession, flow_id: uuid.UUID) -> list[FtFlowTransitionLog]:
    query = select(FtFlowTransitionLog).where(FtFlowTransitionLog.flow_id == flow_id).order_by(FtFlowTransitionLog.id)
    return list((await db.execute(query)).scalars())


async def ft_due_heads(db: AsyncSession, *, now: datetime, limit: int) -> list[FtFlow]:
    """Each file's first unfinished certificate, when it may go now and the person's identifier is known."""
    query = outbound.due_heads_query(
        FtFlow, now=now, limit=limit, joins=[(FtFile, FtFile.id == FtFlow.dossier_id)],
        where=[FtFile.has_identifier.is_(True)],
    )
    return list((await db.execute(query)).scalars())


async def ft_next_due_at(db: AsyncSession, now: datetime) -> datetime | None:
    return await outbound.next_due_at(db, FtFlow, now=now)


def ft_flows_query(*, status: FlowStatus | None, dossier_id: uuid.UUID | None, operation: str | None,
                   waiting_for_identifier: bool | None) -> Select:
    """Flows with their file's masked identifier, filtered (GET /france-travail/flows; paged by the caller)."""
    query = select(FtFlow, FtFile.identifier_masked, FtFile.has_identifier).join(FtFile, FtFile.id == FtFlow.dossier_id)
    if waiting_for_identifier is not None:
        held = and_(FtFlow.status == FlowStatus.PENDING.value, FtFile.has_identifier.is_(False))
        query = query.where(held if waiting_for_identifier else ~held)
    if status is not None:
        query = query.where(FtFlow.status == status.value)
    if dossier_id is not None:
        query = query.where(FtFlow.dossier_id == dossier_id)
    if operation is not None:
        query = query.where(FtFlow.operation == operation)
    return query


async def ft_waiting_count(db: AsyncSession) -> int:
    return (
        await db.execute(
            select(func.count(func.distinct(FtFlow.dossier_id)))
            .join(FtFile, FtFile.id == FtFlow.dossier_id)
            .where(FtFlow.status == FlowStatus.PENDING.value, FtFile.has_identifier.is_(False))
        )
    ).scalar_one()


def delegated_files_query() -> Select:
    """The files whose programme is delegated to France Travail (paged by the caller)."""
    return select(Dossier).where(Dossier.perimeter_status == "delegated")


async def delegated_flows_of(db: AsyncSession, dossier_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Flow]]:
    """The AGORA flows recorded as delegated for these files, in each file's order."""
    found: dict[uuid.UUID, list[Flow]] = {i: [] for i in dossier_ids}
    if dossier_ids:
        query = select(Flow).where(Flow.dossier_id.in_(dossier_ids), Flow.status == FlowStatus.DELEGATED.value)
        for flow in (await db.execute(query.order_by(Flow.sequence))).scalars():
            found[flow.dossier_id].append(flow)
    return found


async def certificates_of(db: AsyncSession, dossier_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[FtFlow]]:
    """The France Travail certificates of these files, in each file's order."""
    found: dict[uuid.UUID, list[FtFlow]] = {i: [] for i in dossier_ids}
    if not dossier_ids:
        return found
    rows = (await db.execute(select(FtFlow).where(FtFlow.dossier_id.in_(dossier_ids)).order_by(FtFlow.sequence))).scalars()
    for flow in rows:
        found[flow.dossier_id].append(flow)
    return found
