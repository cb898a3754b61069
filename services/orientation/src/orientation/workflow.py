"""Application layer: applies the domain's transitions to stored prescriptions.

Every change of state goes through `apply_action` or `submit`: the row, the transition log
and the outgoing event are written in the caller's transaction, so they commit together.
Callers are the HTTP routers, the sessions-event handlers and the expiry job.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pacte_common.contracts.people import (
    PersonIdentity,
    PersonProfile,
    open_identity,
    seal_identity,
)
from pacte_common.errors import Conflict
from pacte_common.service import Runtime
from pacte_common.tracing import current_traceparent
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import CatalogueSession, Person, Prescription, PrescriptionTransition
from orientation.domain.people import identity_lookup_parts
from orientation.domain.prescription import Action, Status, Transition, find_transition, is_active
from orientation.events.publish import publish_transition

SUBMIT = "submit"  # the log's name for the creation, which has no source state


def active_slot(person_id: uuid.UUID, session_id: uuid.UUID) -> str:
    return f"{person_id.hex}:{session_id.hex}"


async def _log(
    session: AsyncSession,
    prescription: Prescription,
    *,
    action: str,
    source: str | None,
    target: str,
    actor: str,
    at: datetime,
    reason: str | None,
    details: dict[str, Any] | None,
    first: bool = False,
) -> None:
    """Appends to the prescription's log; a creation's entry is its first (no query)."""
    if first:
        last = 0
    else:
        last = await session.scalar(
            select(func.max(PrescriptionTransition.sequence)).where(PrescriptionTransition.prescription_id == prescription.id)
        )
    session.add(
        PrescriptionTransition(
            prescription_id=prescription.id,
            sequence=(last or 0) + 1,
            action=action,
            from_status=source,
            to_status=target,
            actor=actor,
            at=at,
            reason=reason,
            details=details or {},
        )
    )


async def apply_action(
    session: AsyncSession,
    runtime: Runtime,
    prescription: Prescription,
    action: Action,
    *,
    actor: str,
    at: datetime,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    event_fields: dict[str, Any] | None = None,
) -> Transition:
    """Moves the prescription along the table (raises TransitionNotAllowed), logs and publishes."""
    transition = find_transition(Status(prescription.status), action)
    for name, value in (changes or {}).items():
        setattr(prescription, name, value)
    prescription.status = transition.target.value
    prescription.status_changed_at = at
    prescription.updated_at = at
    prescription.active_slot = (
        active_slot(prescription.person_id, prescription.session_id) if is_active(transition.target) else None
    )
    await _log(
        session, prescription, action=action.value, source=transition.source.value, target=transition.target.value,
        actor=actor, at=at, reason=reason, details=details,
    )
    person = await session.get(Person, prescription.person_id) if action is Action.ADMIT else None
    await publish_transition(
        runtime.outbox, session, prescription, action, actor=actor, at=at, person=person, **(event_fields or {})
    )
    return transition


def _known_person(nir_hash: str | None, identity_hash: str) -> Select[tuple[Person]]:
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


async def find_or_create_person(
    session: AsyncSession, runtime: Runtime, identity: PersonIdentity, profile: PersonProfile, at: datetime
) -> Person:
    """The same person prescribed twice (same NIR, or same identity) gets the same person_id."""
    hasher = runtime.hasher
    identity_hash = hasher.hash(
        *identity_lookup_parts(identity.birth_name, identity.first_names, profile.birth_date, profile.sex.value)
    )
    nir_hash = hasher.hash("nir", identity.nir) if identity.nir else None
    person = await session.scalar(_known_person(nir_hash, identity_hash))
    if person is None:
        person = Person(
            person_id=uuid.uuid4(),
            nir_hash=nir_hash,
            identity_hash=identity_hash,
            identity_sealed=seal_identity(runtime.cipher, identity),
            has_nir=identity.nir is not None,
            created_at=at,
            updated_at=at,
        )
        session.add(person)
        return person
    # Keep what we learn (a NIR added later, a France Travail id), never forget a NIR.
    known = open_identity(runtime.cipher, person.identity_sealed)
    merged = identity.model_copy(
        update={
            "nir": identity.nir or known.nir,
            "france_travail_id": identity.france_travail_id or known.france_travail_id,
            "usual_name": identity.usual_name or known.usual_name,
        }
    )
    if merged != known:
        person.identity_sealed = seal_identity(runtime.cipher, merged)
        person.updated_at = at
    if nir_hash and person.nir_hash is None:
        person.nir_hash = nir_hash
        person.has_nir = True
    return person


async def submit(
    session: AsyncSession,
    runtime: Runtime,
    *,
    person: Person,
    catalogue_session: CatalogueSession,
    profile: PersonProfile,
    prescriber_kind: str,
    prescriber_code: str,
    professional_project: str,
    comment: str | None,
    actor: str,
    at: datetime,
    previous: Prescription | None = None,
) -> Prescription:
    """Creates a submitted prescription; 409 when the person already has one active on the session."""
    slot = active_slot(person.person_id, catalogue_session.session_id)
    # A person created in this transaction has no prescription yet: no need to look (the
    # flush below inserts the person before the prescription, foreign key first).
    if person not in session.new and await session.scalar(select(Prescription.id).where(Prescription.active_slot == slot)):
        raise _duplicate()
    prescription = Prescription(
        id=uuid.uuid4(),
        status=Status.SUBMITTED.value,
        person_id=person.person_id,
        session_id=catalogue_session.session_id,
        organisation_siret=catalogue_session.organisation_siret,
        prescriber_kind=prescriber_kind,
        prescriber_code=prescriber_code,
        active_slot=slot,
        professional_project=professional_project,
        comment=comment,
        profile=profile.model_dump(mode="json"),
        previous_prescription_id=previous.id if previous else None,
        # A reorientation continues the journey's first trace; a first submission starts one.
        traceparent=(previous.traceparent if previous else None) or current_traceparent.get(),
        created_at=at,
        status_changed_at=at,
        updated_at=at,
    )
    session.add(prescription)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent submission took the slot between our check and insert
        await session.rollback()
        raise _duplicate() from None
    await _log(
        session, prescription, action=SUBMIT, source=None, target=Status.SUBMITTED.value, actor=actor, at=at,
        reason=None, details={"previous_prescription_id": str(previous.id)} if previous else None, first=True,
    )
    await publish_transition(runtime.outbox, session, prescription, None, actor=actor, at=at)
    return prescription


def _duplicate() -> Conflict:
    return Conflict(
        "This person already has an active prescription for this session",
        slug="duplicate-prescription",
        title="Prescription already active",
    )
