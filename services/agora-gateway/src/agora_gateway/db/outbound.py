"""The outbound engine's queries, for any partner's flow table (AGORA's `agora_flows`, France
Travail's `ft_flows`): the due head flow of each file, when the next one comes due, the
atomic claim. The model passed in has the engine's columns (dossier_id, sequence, status,
next_attempt_at, claimed_until, attempts, version); callers in app/ own the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.domain.outbound import ACTIVE, FlowStatus


def due_heads_query(model: Any, *, now: datetime, limit: int, active: ColumnElement[bool] | None = None,
                    joins: Iterable[tuple[Any, ColumnElement[bool]]] = (),
                    where: Iterable[ColumnElement[bool]] = ()) -> Select:
    """The first unfinished flow of each file, when it may go now (order per file).

    `active` narrows which flows hold their file (default: pending, sent, rejected); `joins`
    and `where` add the partner's own conditions (AGORA: the NIR; France Travail: the identifier).
    """
    held = model.status.in_(ACTIVE) if active is None else active
    heads = (
        select(model.dossier_id, func.min(model.sequence).label("sequence"))
        .where(held)
        .group_by(model.dossier_id)
        .subquery()
    )
    query = select(model).join(heads, and_(model.dossier_id == heads.c.dossier_id, model.sequence == heads.c.sequence))
    for target, on in joins:
        query = query.join(target, on)
    return (
        query.where(
            or_(
                and_(model.status == FlowStatus.PENDING.value, model.next_attempt_at <= now),
                # claimed by a process that died: its lease ran out
                and_(model.status == FlowStatus.SENT.value, model.claimed_until.is_not(None), model.claimed_until < now),
            ),
            *where,
        )
        .order_by(model.next_attempt_at)
        .limit(limit)
    )


async def has_next_flow(db: AsyncSession, model: Any, dossier_id: Any, sequence: int) -> bool:
    """Whether the file has a pending flow after this one: what an acknowledgement lets go."""
    query = select(model.id).where(model.dossier_id == dossier_id, model.sequence > sequence,
                                   model.status == FlowStatus.PENDING.value).limit(1)
    return (await db.execute(query)).first() is not None


async def next_due_at(db: AsyncSession, model: Any, *, now: datetime) -> datetime | None:
    """When the next flow not due yet becomes due: a requeued one's next attempt, or a claim's
    lease running out. None when nothing is waiting for a time."""
    pending = select(func.min(model.next_attempt_at)).where(
        model.status == FlowStatus.PENDING.value, model.next_attempt_at > now
    )
    leased = select(func.min(model.claimed_until)).where(model.status == FlowStatus.SENT.value, model.claimed_until > now)
    # one statement (the dispatcher asks each time it goes idle)
    row = (await db.execute(select(pending.scalar_subquery(), leased.scalar_subquery()))).one()
    times = [t for t in row if t is not None]
    return min(times, default=None)


async def claim_heads(db: AsyncSession, model: Any, heads: list[Any], *, now: datetime, lease_s: float) -> list[Any]:
    """Atomically takes these due flows (as a reader saw them: id and version) for one send each,
    in one statement; returns the ones this process took, in the heads' order (another process
    may have taken some first)."""
    if not heads:
        return []
    query = (
        update(model)
        .where(
            tuple_(model.id, model.version).in_([(head.id, head.version) for head in heads]),
            or_(
                and_(model.status == FlowStatus.PENDING.value, model.next_attempt_at <= now),
                and_(model.status == FlowStatus.SENT.value, model.claimed_until < now),
            ),
        )
        .values(
            status=FlowStatus.SENT.value,
            claimed_until=now + timedelta(seconds=lease_s),
            attempts=model.attempts + 1,
            version=model.version + 1,
        )
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    taken = {flow.id: flow for flow in (await db.execute(query)).scalars()}
    return [taken[head.id] for head in heads if head.id in taken]


async def renew_leases(db: AsyncSession, model: Any, held: list[tuple[Any, int]], *, until: datetime) -> int:
    """Moves the lease of these claims (flow id, version of the claim) to `until`: the process
    holding them is alive. A claim taken again meanwhile (another version) is not touched."""
    if not held:
        return 0
    result = await db.execute(
        update(model)
        .where(tuple_(model.id, model.version).in_(held), model.status == FlowStatus.SENT.value)
        .values(claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
