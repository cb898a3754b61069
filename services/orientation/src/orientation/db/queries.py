"""Queries shared by the routers and the use cases: chains, counts, filters (who sees what: api/access.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from pacte_common.clock import start_of_business_day
from sqlalchemy import Select, and_, bindparam, case, func, or_, select, true
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


# ---------------------------------------------------------------- the hot paths (Core, statements built once)

_persons = Person.__table__
_prescriptions = Prescription.__table__
_sessions = CatalogueSession.__table__


def _person_candidates(with_nir: bool):
    """The person already known: the one with this NIR, else the first with this identity and no
    other NIR (a known NIR that differs means another person who merely shares name and birth
    date). Its values bound at run time (:nir_hash, :identity_hash)."""
    columns = (_persons.c.person_id, _persons.c.nir_hash, _persons.c.identity_sealed, _persons.c.has_nir)
    if not with_nir:
        return (select(*columns).where(_persons.c.identity_hash == bindparam("identity_hash"))
                .order_by(_persons.c.created_at).limit(1))
    nir_hash = bindparam("nir_hash")
    same_identity = and_(_persons.c.identity_hash == bindparam("identity_hash"),
                         or_(_persons.c.nir_hash.is_(None), _persons.c.nir_hash == nir_hash))
    return (select(*columns).where(or_(_persons.c.nir_hash == nir_hash, same_identity))
            .order_by(case((_persons.c.nir_hash == nir_hash, 0), else_=1), _persons.c.created_at).limit(1))


def _submission_lookup(with_nir: bool) -> Select:
    person = _person_candidates(with_nir).subquery("person")
    return (
        select(_sessions.c.session_id, _sessions.c.organisation_siret, _sessions.c.recruitment_state, _sessions.c.cancelled,
               person.c.person_id, person.c.nir_hash, person.c.identity_sealed, person.c.has_nir)
        .select_from(_sessions.outerjoin(person, true()))
        .where(_sessions.c.session_id == bindparam("session_id"))
    )


_SUBMISSION_LOOKUPS = {with_nir: _submission_lookup(with_nir) for with_nir in (False, True)}


async def submission_targets(db: AsyncSession, session_id: uuid.UUID, nir_hash: str | None, identity_hash: str):
    """One statement for a submission: the catalogue's session (None when unknown) joined with the
    person already known by this NIR or identity (`_person_candidates`' rule; its columns None when new)."""
    query = _SUBMISSION_LOOKUPS[nir_hash is not None]
    params = {"session_id": session_id, "identity_hash": identity_hash}
    if nir_hash is not None:
        params["nir_hash"] = nir_hash
    return (await db.execute(query, params)).first()


_READ_PRESCRIPTION = (
    select(_prescriptions, _persons.c.identity_sealed, _persons.c.has_nir)
    .select_from(_prescriptions.outerjoin(_persons, _persons.c.person_id == _prescriptions.c.person_id))
    .where(_prescriptions.c.id == bindparam("prescription_id"))
)


async def prescription_with_person(db: AsyncSession, prescription_id: uuid.UUID):
    """A prescription's columns with its person's sealed identity and `has_nir`, in one statement
    (attribute access as on the model), or None."""
    return (await db.execute(_READ_PRESCRIPTION, {"prescription_id": prescription_id})).first()
