"""Queries shared by the routers, the handlers and the job: visibility, chains, counts."""

from __future__ import annotations

import uuid

from pacte_common.auth import OrgKind, Principal
from pacte_common.errors import Forbidden, NotFound
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import CatalogueSession, Prescription
from orientation.domain.prescription import Status


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """A prescriber sees its structure's prescriptions, an organisation those to its sessions, the Region all."""
    match principal.org_kind:
        case OrgKind.REGION:
            return true()
        case OrgKind.PRESCRIBER:
            return Prescription.prescriber_code == principal.org_id
        case OrgKind.TRAINING_ORG:
            return Prescription.organisation_siret == principal.org_id
        case _:
            raise Forbidden("Prescriptions are shared between prescribers, training organisations and the Region")


def can_see(principal: Principal, prescription: Prescription) -> bool:
    match principal.org_kind:
        case OrgKind.REGION:
            return True
        case OrgKind.PRESCRIBER:
            return prescription.prescriber_code == principal.org_id
        case OrgKind.TRAINING_ORG:
            return prescription.organisation_siret == principal.org_id
        case _:
            return False


async def visible_prescription(session: AsyncSession, principal: Principal, prescription_id: uuid.UUID) -> Prescription:
    """The prescription, or 404 whether it does not exist or belongs to someone else (no leak)."""
    visible_to(principal)  # 403 for kinds that see no prescription at all
    prescription = await session.get(Prescription, prescription_id)
    if prescription is None or not can_see(principal, prescription):
        raise NotFound(f"No prescription {prescription_id} visible to you")
    return prescription


async def chain_of(session: AsyncSession, prescription: Prescription) -> list[Prescription]:
    """The person's successive attempts linked by reorientation, oldest first."""
    earlier: list[Prescription] = []
    current = prescription
    while current.previous_prescription_id is not None:
        previous = await session.get(Prescription, current.previous_prescription_id)
        if previous is None or previous in earlier:
            break
        earlier.append(previous)
        current = previous
    later: list[Prescription] = []
    current = prescription
    while current.next_prescription_id is not None:
        following = await session.get(Prescription, current.next_prescription_id)
        if following is None or following in later:
            break
        later.append(following)
        current = following
    return [*reversed(earlier), prescription, *later]


async def catalogue_session_for_update(session: AsyncSession, session_id: uuid.UUID) -> CatalogueSession | None:
    """The read model's session row, locked on PostgreSQL (SQLite's write lock is already held):
    admissions and the catalogue handlers that change its places take turns on it."""
    query = (
        select(CatalogueSession)
        .where(CatalogueSession.session_id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def admissions_awaiting_entry(session: AsyncSession, session_id: uuid.UUID) -> int:
    """Our admissions on a session not entered yet: each holds a place that sessions does not
    count in `places_taken` until the entry (an opened training file holds none)."""
    return await session.scalar(
        select(func.count())
        .select_from(Prescription)
        .where(Prescription.session_id == session_id, Prescription.status == Status.ADMITTED.value)
    ) or 0


async def waitlist_rank(session: AsyncSession, prescription: Prescription) -> int | None:
    """1 for the first in line on the session's waiting list (kept in order of waitlisting)."""
    if prescription.status != Status.WAITLISTED.value or prescription.waitlisted_at is None:
        return None
    ahead = await session.scalar(
        select(func.count())
        .select_from(Prescription)
        .where(
            Prescription.session_id == prescription.session_id,
            Prescription.status == Status.WAITLISTED.value,
            Prescription.waitlisted_at < prescription.waitlisted_at,
        )
    )
    return (ahead or 0) + 1
