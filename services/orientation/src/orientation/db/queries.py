"""Queries shared by the routers and the use cases: chains, counts, filters (who sees what: api/access.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from pacte_common.clock import start_of_business_day
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import CatalogueSession, Person, Prescription, PrescriptionTransition
from orientation.domain.prescription import EXPIRABLE_STATUSES, Status


async def chain_of(db: AsyncSession, prescription: Prescription) -> list[Prescription]:
    """The person's successive attempts linked by reorientation, oldest first."""
    earlier: list[Prescription] = []
    current = prescription
    while current.previous_prescription_id is not None:
        previous = await db.get(Prescription, current.previous_prescription_id)
        if previous is None or previous in earlier:
            break
        earlier.append(previous)
        current = previous
    later: list[Prescription] = []
    current = prescription
    while current.next_prescription_id is not None:
        following = await db.get(Prescription, current.next_prescription_id)
        if following is None or following in later:
            break
        later.append(following)
        current = following
    return [*reversed(earlier), prescription, *later]


async def catalogue_session_for_update(db: AsyncSession, session_id: uuid.UUID) -> CatalogueSession | None:
    """The read model's session row, locked on PostgreSQL (SQLite's write lock is already held):
    admissions and the catalogue handlers that change its places take turns on it."""
    query = (
        select(CatalogueSession)
        .where(CatalogueSession.session_id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def admissions_awaiting_entry(db: AsyncSession, session_id: uuid.UUID) -> int:
    """Our admissions on a session not entered yet: each holds a place that sessions does not
    count in `places_taken` until the entry (an opened training file holds none)."""
    return await db.scalar(
        select(func.count())
        .select_from(Prescription)
        .where(Prescription.session_id == session_id, Prescription.status == Status.ADMITTED.value)
    ) or 0


async def waitlist_rank(db: AsyncSession, prescription: Prescription) -> int | None:
    """1 for the first in line on the session's waiting list (kept in order of waitlisting)."""
    if prescription.status != Status.WAITLISTED.value or prescription.waitlisted_at is None:
        return None
    ahead = await db.scalar(
        select(func.count())
        .select_from(Prescription)
        .where(
            Prescription.session_id == prescription.session_id,
            Prescription.status == Status.WAITLISTED.value,
            Prescription.waitlisted_at < prescription.waitlisted_at,
        )
    )
    return (ahead or 0) + 1


def filtered(
    query: Select,
    *,
    statuses: list[Status] | None = None,
    session_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    from_: date | None = None,
    to: date | None = None,
    timezone: str,
) -> Select:
    """The list's and the counts' filters; dates are the Region's business days."""
    if statuses:
        query = query.where(Prescription.status.in_([s.value for s in statuses]))
    if session_id:
        query = query.where(Prescription.session_id == session_id)
    if person_id:
        query = query.where(Prescription.person_id == person_id)
    if from_:
        query = query.where(Prescription.created_at >= start_of_business_day(timezone, from_))
    if to:
        query = query.where(Prescription.created_at < start_of_business_day(timezone, to + timedelta(days=1)))
    return query


async def transitions_of(db: AsyncSession, prescription_id: uuid.UUID) -> list[PrescriptionTransition]:
    rows = await db.scalars(
        select(PrescriptionTransition)
        .where(PrescriptionTransition.prescription_id == prescription_id)
        .order_by(PrescriptionTransition.sequence)
    )
    return list(rows)


async def next_sequence(db: AsyncSession, prescription_id: uuid.UUID) -> int:
    """The number of the prescription's next log row (1, 2, …)."""
    last = await db.scalar(
        select(func.max(PrescriptionTransition.sequence)).where(PrescriptionTransition.prescription_id == prescription_id)
    )
    return (last or 0) + 1


def known_person(nir_hash: str | None, identity_hash: str) -> Select[tuple[Person]]:
    """One query: the person with this NIR, else the first with this identity and no other NIR
    (a known NIR that differs means another person who merely shares name and birth date)."""
    if nir_hash is None:
        return select(Person).where(Person.identity_hash == identity_hash).order_by(Person.created_at).limit(1)
    same_identity = and_(Person.identity_hash == identity_hash, or_(Person.nir_hash.is_(None), Person.nir_hash == nir_hash))
    return (
        select(Person)
        .where(or_(Person.nir_hash == nir_hash, same_identity))
        .order_by(case((Person.nir_hash == nir_hash, 0), else_=1), Person.created_at)
        .limit(1)
    )


async def overdue_prescriptions(db: AsyncSession, deadline: datetime, limit: int) -> list[uuid.UUID]:
    """Prescriptions unanswered since `deadline` (expirable states), oldest first."""
    rows = await db.scalars(
        select(Prescription.id)
        .where(
            Prescription.status.in_([s.value for s in EXPIRABLE_STATUSES]),
            Prescription.status_changed_at <= deadline,
        )
        .order_by(Prescription.status_changed_at)
        .limit(limit)
    )
    return list(rows)
