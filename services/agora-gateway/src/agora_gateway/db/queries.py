"""Queries on the gateway's tables, and the rows of new flows (callers, in app/, own the transaction)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.db.models import BackfillRejection, Dossier, Flow, FlowTransitionLog
from agora_gateway.domain.agora_file import Operation
from agora_gateway.domain.flows import FlowStatus

SYSTEM = "system:agora-gateway"
ACTIVE = (FlowStatus.PENDING.value, FlowStatus.SENT.value, FlowStatus.REJECTED.value)
# Operations that carry the identity to AGORA first, so wait for the NIR (docs/rules.md §6.4).
NIR_FIRST = (Operation.CREATE.value, Operation.BULK_LOAD.value)
WAITING_FOR_NIR = "waiting_for_nir"


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
    """The first unfinished flow of each file, when it may go now (order per file)."""
    heads = (
        select(Flow.dossier_id, func.min(Flow.sequence).label("sequence"))
        .where(
            Flow.status.in_(ACTIVE),
            # a rejected back-fill record does not hold the file: the live flow takes it over
            ~and_(Flow.operation == Operation.BULK_LOAD.value, Flow.status == FlowStatus.REJECTED.value),
        )
        .group_by(Flow.dossier_id)
        .subquery()
    )
    query = (
        select(Flow)
        .join(heads, and_(Flow.dossier_id == heads.c.dossier_id, Flow.sequence == heads.c.sequence))
        .join(Dossier, Dossier.id == Flow.dossier_id)
        .where(
            or_(
                and_(Flow.status == FlowStatus.PENDING.value, Flow.next_attempt_at <= now),
                # claimed by a process that died: its lease ran out
                and_(Flow.status == FlowStatus.SENT.value, Flow.claimed_until.is_not(None), Flow.claimed_until < now),
            )
        )
        .order_by(Flow.next_attempt_at)
        .limit(limit)
    )
    if not create_without_nir:
        # A file's first operation (a live creation, or a back-filled record kept until its NIR
        # came) waits for the NIR; the file's later flows wait behind it.
        query = query.where(or_(Flow.operation.not_in(NIR_FIRST), Dossier.has_nir.is_(True)))
    if exclude:
        query = query.where(Flow.dossier_id.not_in(exclude))
    return list((await db.execute(query)).scalars())


async def next_due_at(db: AsyncSession, *, now: datetime) -> datetime | None:
    """When the next flow not due yet becomes due: a requeued one's next attempt, or a claim's
    lease running out. None when nothing is waiting for a time."""
    pending = select(func.min(Flow.next_attempt_at)).where(
        Flow.status == FlowStatus.PENDING.value, Flow.next_attempt_at > now
    )
    leased = select(func.min(Flow.claimed_until)).where(Flow.status == FlowStatus.SENT.value, Flow.claimed_until > now)
    times = [t for t in (await db.scalar(pending), await db.scalar(leased)) if t is not None]
    return min(times, default=None)


async def claim(db: AsyncSession, flow: Flow, *, now: datetime, lease_s: float) -> bool:
    """Atomically takes the flow for one send; False if another process took it first."""
    result = await db.execute(
        update(Flow)
        .where(
            Flow.id == flow.id,
            Flow.version == flow.version,
            or_(
                and_(Flow.status == FlowStatus.PENDING.value, Flow.next_attempt_at <= now),
                and_(Flow.status == FlowStatus.SENT.value, Flow.claimed_until < now),
            ),
        )
        .values(
            status=FlowStatus.SENT.value,
            claimed_until=now + timedelta(seconds=lease_s),
            attempts=Flow.attempts + 1,
            version=Flow.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    await db.refresh(flow)
    return True


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
