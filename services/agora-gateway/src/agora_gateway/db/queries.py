"""Queries on the gateway's tables, and the rows of new flows (callers, in app/, own the transaction)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.db import outbound
from agora_gateway.db.models import BackfillRejection, Dossier, Flow, FlowTransitionLog
from agora_gateway.domain.agora_file import Operation
from agora_gateway.domain.outbound import ACTIVE, FlowStatus

SYSTEM = "system:agora-gateway"
# Operations that carry the identity to AGORA first, so wait for the NIR (docs/rules.md §6.4).
NIR_FIRST = (Operation.CREATE.value, Operation.BULK_LOAD.value)
WAITING_FOR_NIR = "waiting_for_nir"
UNSENT_CREATE = (FlowStatus.PENDING.value, FlowStatus.REJECTED.value)  # a `create` that will still go, with the NIR of then


def waiting_reason(flow: Flow, has_nir: bool, create_without_nir: bool) -> str | None:
    """Why a pending flow is not sent yet, when it is the file's missing NIR."""
    if flow.status == FlowStatus.PENDING.value and flow.operation in NIR_FIRST and not has_nir and not create_without_nir:
        return WAITING_FOR_NIR
    return None


async def find_flow(db: AsyncSession, flow_id: uuid.UUID, *, for_update: bool = False) -> Flow | None:
    query = select(Flow).where(Flow.id == flow_id)
    if for_update:
        query = query.with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def flow_transitions(db: AsyncSession, flow_id: uuid.UUID) -> list[FlowTransitionLog]:
    query = select(FlowTransitionLog).where(FlowTransitionLog.flow_id == flow_id).order_by(FlowTransitionLog.id)
    return list((await db.execute(query)).scalars())


async def dossier_flows(db: AsyncSession, dossier_id: uuid.UUID) -> list[Flow]:
    return list((await db.execute(select(Flow).where(Flow.dossier_id == dossier_id).order_by(Flow.sequence))).scalars())


async def dossiers_for_update(db: AsyncSession, dossier_ids: set[uuid.UUID]) -> dict[uuid.UUID, Dossier]:
    """These files, locked, in one statement (in id order: two lockers never wait on each other in a circle)."""
    return await dossiers_of(db, dossier_ids, for_update=True)


async def dossiers_of(db: AsyncSession, dossier_ids: set[uuid.UUID], *, for_update: bool = False) -> dict[uuid.UUID, Dossier]:
    """These files in one statement (in id order when locked)."""
    query = select(Dossier).where(Dossier.id.in_(dossier_ids))
    if for_update:
        query = query.order_by(Dossier.id).with_for_update()
    return {dossier.id: dossier for dossier in (await db.execute(query)).scalars()}


async def with_unsent_create(db: AsyncSession, dossier_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these files whose `create` is not sent yet (it will carry the NIR the file has when it goes)."""
    if not dossier_ids:
        return set()
    query = select(Flow.dossier_id).where(
        Flow.dossier_id.in_(dossier_ids),
        Flow.operation == Operation.CREATE.value,
        Flow.status.in_(UNSENT_CREATE),
        Flow.request_encrypted.is_(None),
    )
    return set((await db.execute(query)).scalars())


async def get_dossier(db: AsyncSession, dossier_id: uuid.UUID, *, for_update: bool = False) -> Dossier | None:
    query = select(Dossier).where(Dossier.id == dossier_id)
    if for_update:
        query = query.with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


def flow_row(
    flow_id: uuid.UUID,
    dossier_id: uuid.UUID,
    sequence: int,
    operation: Operation,
    status: FlowStatus,
    data: dict[str, Any],
    origin: str,
    now: datetime,
    *,
    event_type: str | None = None,
    **columns: Any,
) -> dict[str, Any]:
    """A new flow's columns: for one ORM object (add_flow) or a set-based insert (the back-fill)."""
    return dict(
        id=flow_id, dossier_id=dossier_id, sequence=sequence, operation=operation.value, status=status.value,
        origin=origin, revision=1, data=data, event_type=event_type, attempts=0, failed_claims=0,
        next_attempt_at=now, version=1, created_at=now, updated_at=now, **columns,
    )


async def due_heads(db: AsyncSession, *, now: datetime, limit: int, create_without_nir: bool, exclude: set[uuid.UUID]) -> list[Flow]:
    """The first unfinished flow of each AGORA file, when it may go now (the engine's query)."""
    where = []
    if not create_without_nir:
        # A file's first operation (a live creation, or a back-filled record kept until its NIR
        # came) waits for the NIR; the file's later flows wait behind it.
        where.append(or_(Flow.operation.not_in(NIR_FIRST), Dossier.has_nir.is_(True)))
    if exclude:
        where.append(Flow.dossier_id.not_in(exclude))
    query = outbound.due_heads_query(
        Flow, now=now, limit=limit,
        # a rejected back-fill record does not hold the file: the live flow takes it over
        active=and_(Flow.status.in_(ACTIVE),
                    ~and_(Flow.operation == Operation.BULK_LOAD.value, Flow.status == FlowStatus.REJECTED.value)),
        joins=[(Dossier, Dossier.id == Flow.dossier_id)], where=where,
    )
    return list((await db.execute(query)).scalars())


async def next_due_at(db: AsyncSession, *, now: datetime) -> datetime | None:
    return await outbound.next_due_at(db, Flow, now=now)


async def count_by(db: AsyncSession, column) -> dict[str, int]:
    rows = (await db.execute(select(column, func.count()).group_by(column))).all()
    return {str(key): n for key, n in rows}


async def waiting_for_nir_count(db: AsyncSession) -> int:
    return (
        await db.execute(
            select(func.count(func.distinct(Flow.dossier_id)))
            .join(Dossier, Dossier.id == Flow.dossier_id)
            .where(Flow.status == FlowStatus.PENDING.value, Flow.operation.in_(NIR_FIRST), Dossier.has_nir.is_(False))
        )
    ).scalar_one()


async def rejections_after(db: AsyncSession, job_id: uuid.UUID, last_id: int, limit: int) -> list[BackfillRejection]:
    query = (
        select(BackfillRejection)
        .where(BackfillRejection.job_id == job_id, BackfillRejection.id > last_id)
        .order_by(BackfillRejection.id)
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())


def flows_query(
    *,
    status: FlowStatus | None,
    dossier_id: uuid.UUID | None,
    operation: Operation | None,
    origin: str | None,
    waiting_for_nir: bool | None,
    create_without_nir: bool,
) -> Select:
    """Flows with their file's trace and NIR presence, filtered (GET /flows; paged by the caller)."""
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
    return query
