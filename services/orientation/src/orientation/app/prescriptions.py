"""The prescription's use cases: submission and reorientation, each party's answer, what the
sessions service reports of the admission, and the expiry job.

Each loads what it needs, checks the rule (domain/), moves the state along `PRESCRIPTION`
(which adds the log row: who, when, from, to, why, trace id), publishes the event to the
outbox and, when called from HTTP, commits: the row, its log and its event commit together or
not at all. The use cases of consumed events (`on_…`) do not commit: the consumer commits them
with the inbox row. The HTTP edge has already found the prescription visible to the caller and
checked that the action is the caller's (api/prescriptions.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from pacte_common.auth import Principal
from pacte_common.clock import business_today, utcnow
from pacte_common.contracts.people import PersonIdentity, PersonProfile
from pacte_common.contracts.sessions import (
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEntered,
    TraineeEvent,
)
from pacte_common.errors import Conflict, Invalid
from pacte_common.http import check_if_match
from pacte_common.idempotency import Answer, create_once
from pacte_common.service import Runtime
from pacte_common.tracing import current_traceparent
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from orientation.app.catalogue import refresh_places
from orientation.app.people import person_hashes, settle_person
from orientation.db.models import CatalogueSession, Person, Prescription, PrescriptionTransition
from orientation.db.queries import (
    admissions_awaiting_entry,
    catalogue_session_for_update,
    next_sequence,
    overdue_prescriptions,
    submission_targets,
)
from orientation.domain.catalogue import is_full, open_for_prescription
from orientation.domain.people import birth_date_problem
from orientation.domain.prescription import (
    EXPIRABLE_STATUSES,
    PRESCRIPTION,
    SUBMIT,
    Action,
    PositioningKind,
    PrescriberKind,
    RefusalReason,
    Role,
    Status,
    is_active,
    prescriber_kind_from_code,
)
from orientation.events.publish import publish_transition
from orientation.settings import OrientationSettings

log = logging.getLogger(__name__)

EXPIRY_ACTOR = "system:expiry"

# Renders a created prescription (its stored columns) and its person as the answer's body (api/),
# which idempotent replays repeat.
Render = Callable[[Any, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Actor:
    """Who acts over HTTP: the log's `actor` and the role the table checks."""

    name: str
    role: Role


@dataclass(frozen=True)
class Submission:
    """What a prescriber sends to propose a person for a session."""

    session_id: uuid.UUID
    identity: PersonIdentity
    profile: PersonProfile
    prescriber_kind: PrescriberKind | None
    professional_project: str
    comment: str | None


def active_slot(person_id: uuid.UUID, session_id: uuid.UUID) -> str:
    return f"{person_id.hex}:{session_id.hex}"


# ---------------------------------------------------------------- the move, shared by every use case


async def _move(
    db: AsyncSession,
    runtime: Runtime,
    prescription: Prescription,
    action: Action,
    *,
    actor: str,
    at: datetime,
    role: Role,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    event_fields: dict[str, Any] | None = None,
) -> None:
    """Moves the prescription along the table (TransitionRefused: 409), logs it and publishes
    its event, in the caller's transaction."""
    sequence = await next_sequence(db, prescription.id)
    moved = PRESCRIPTION.move(
        db, prescription, action, log=PrescriptionTransition, actor=actor, at=at, role=role, reason=reason,
        details=details, prescription_id=prescription.id, sequence=sequence,
    )
    for name, value in (changes or {}).items():
        setattr(prescription, name, value)
    prescription.status_changed_at = at
    prescription.updated_at = at
    prescription.active_slot = (
        active_slot(prescription.person_id, prescription.session_id) if is_active(moved.target) else None
    )
    person = await db.get(Person, prescription.person_id) if action is Action.ADMIT else None
    await publish_transition(
        runtime.outbox, db, prescription, action, actor=actor, at=at, person=person, **(event_fields or {})
    )


def _may(prescription: Prescription, action: Action, by: Actor, if_match: str | None) -> None:
    """412 when the caller acted on a stale version, 409 when the table says no from here."""
    check_if_match(if_match, prescription.version)
    PRESCRIPTION.step(prescription.status, action, role=by.role)


async def _answer(
    db: AsyncSession,
    runtime: Runtime,
    prescription: Prescription,
    action: Action,
    by: Actor,
    *,
    if_match: str | None,
    at: datetime | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
) -> Prescription:
    """One party's action over HTTP: checked, moved, logged, published, committed. A lost race
    (StaleDataError at the commit) is answered 409 concurrent-update by the shared handler."""
    _may(prescription, action, by, if_match)
    await _move(
        db, runtime, prescription, action, actor=by.name, at=at or utcnow(), role=by.role, reason=reason,
        details=details, changes=changes,
    )
    await db.commit()
    return prescription


# ---------------------------------------------------------------- the training organisation's answers


async def schedule_positioning(
    db: AsyncSession, runtime: Runtime, prescription: Prescription, by: Actor, *,
    if_match: str | None, day: date, kind: PositioningKind, comment: str | None,
) -> Prescription:
    return await _answer(
        db, runtime, prescription, Action.SCHEDULE_POSITIONING, by, if_match=if_match, reason=comment,
        details={"positioning_date": day.isoformat(), "positioning_kind": kind.value},
        changes={"positioning_date": day, "positioning_kind": kind.value},
    )


async def admit(
    db: AsyncSession, runtime: Runtime, prescription: Prescription, by: Actor, *, if_match: str | None, comment: str | None
) -> Prescription:
    """Admits, unless the session is full (409 session-full: waitlist instead)."""
    _may(prescription, Action.ADMIT, by, if_match)
    await _unless_full(db, prescription, by)
    return await _answer(
        db, runtime, prescription, Action.ADMIT, by, if_match=if_match, reason=comment, changes={"answer_comment": comment}
    )


async def _unless_full(db: AsyncSession, prescription: Prescription, by: Actor) -> None:
    # The session row stays locked until the admission commits: concurrent admissions count
    # the places one after the other and the last place is given once.
    target = await catalogue_session_for_update(db, prescription.session_id)
    if target is None:
        return
    awaiting = await admissions_awaiting_entry(db, target.session_id)
    if is_full(target.recruitment_state, target.places, target.places_taken, awaiting):
        raise Conflict(
            "The session is full: no place is left to admit this person; waitlist them instead",
            slug="session-full",
            title="Session full",
            places=target.places,
            places_taken=target.places_taken + awaiting,
            current_state=prescription.status,
            allowed_actions=[
                a.value for a in PRESCRIPTION.allowed_actions(prescription.status, by.role) if a is not Action.ADMIT
            ],
        )


async def refuse(
    db: AsyncSession, runtime: Runtime, prescription: Prescription, by: Actor, *,
    if_match: str | None, reason_code: RefusalReason, comment: str | None,
) -> Prescription:
    return await _answer(
        db, runtime, prescription, Action.REFUSE, by, if_match=if_match, reason=comment,
        details={"reason_code": reason_code.value},
        changes={"refusal_reason": reason_code.value, "refusal_comment": comment},
    )


async def waitlist(
    db: AsyncSession, runtime: Runtime, prescription: Prescription, by: Actor, *, if_match: str | None, comment: str | None
) -> Prescription:
    now = utcnow()
    return await _answer(
        db, runtime, prescription, Action.WAITLIST, by, if_match=if_match, at=now, reason=comment,
        changes={"waitlisted_at": now, "answer_comment": comment},
    )


# ---------------------------------------------------------------- the prescriber's actions


async def withdraw(
    db: AsyncSession, runtime: Runtime, prescription: Prescription, by: Actor, *, if_match: str | None, reason: str | None
) -> Prescription:
    return await _answer(
        db, runtime, prescription, Action.WITHDRAW, by, if_match=if_match, reason=reason,
        changes={"withdrawal_reason": reason},
    )


async def submit(
    db: AsyncSession, runtime: Runtime, principal: Principal, submission: Submission, *,
    payload: Any, idempotency_key: str | None, render: Render,
) -> Answer:
    """A prescriber proposes a person for a session: 422 for a birth date or a prescriber kind
    that cannot be right, 409 when the session is not open or the person already has an active
    prescription on it; once per idempotency key.

    The hot path (docs/scaling.md): one look-up (the session and the known person together),
    then Core INSERTs (person when new, prescription, log row, event) and the stored answer."""
    settings: OrientationSettings = runtime.settings
    kind = _checked_submission(settings, principal, submission)

    async def create() -> tuple[int, Any]:
        hashes = person_hashes(runtime, submission.identity, submission.profile)
        found = await submission_targets(db, submission.session_id, *hashes)
        target = _prescribable(found, settings, "body.session_id")
        now = utcnow()
        person = await settle_person(db, runtime, submission.identity, hashes, found, now)
        prescription = await _create(
            db, runtime, person=person, catalogue_session=target, profile=submission.profile,
            prescriber_kind=kind.value, prescriber_code=principal.org_id,
            professional_project=submission.professional_project, comment=submission.comment,
            actor=principal.describe(), at=now,
        )
        return 201, await render(prescription, person)

    return await create_once(
        db, runtime.tables, hasher=runtime.hasher, principal=principal, operation="create-prescription",
        key=idempotency_key, payload=payload, create=create,
    )


def _checked_submission(settings: OrientationSettings, principal: Principal, submission: Submission) -> PrescriberKind:
    """The prescriber kind (named, or derived from the structure code); 422 when a rule says no."""
    today = business_today(settings.business_timezone)
    problem = birth_date_problem(submission.profile.birth_date, today, settings.minimum_age_years)
    if problem:
        raise Invalid(problem, field="body.profile.birth_date")
    kind = submission.prescriber_kind or prescriber_kind_from_code(principal.org_id, settings.prescriber_kind_by_code_prefix)
    if kind is None:
        raise Invalid("name the prescriber kind: it cannot be derived from your structure code", field="body.prescriber_kind")
    return kind


async def reorient(
    db: AsyncSession, runtime: Runtime, old: Prescription, by: Actor, principal: Principal, *,
    if_match: str | None, session_id: uuid.UUID, professional_project: str | None, comment: str | None,
    payload: Any, idempotency_key: str | None, render: Render,
) -> Answer:
    """Bounce back: a new prescription to another session, linked to the closed one (which keeps
    its state); once per idempotency key, and once per prescription."""
    settings: OrientationSettings = runtime.settings

    async def create() -> tuple[int, Any]:
        _may(old, Action.REORIENT, by, if_match)
        if old.next_prescription_id is not None:
            raise Conflict(
                f"This prescription was already reoriented to {old.next_prescription_id}",
                slug="already-reoriented",
                title="Already reoriented",
                next_prescription_id=str(old.next_prescription_id),
            )
        target = await prescribable_session(db, settings, session_id, "body.session_id")
        person = await db.get_one(Person, old.person_id)
        now = utcnow()
        new = await _create(
            db, runtime, person=person, catalogue_session=target, profile=PersonProfile.model_validate(old.profile),
            prescriber_kind=old.prescriber_kind, prescriber_code=old.prescriber_code,
            professional_project=professional_project or old.professional_project, comment=comment,
            actor=by.name, at=now, previous=old,
        )
        await _move(
            db, runtime, old, Action.REORIENT, actor=by.name, at=now, role=by.role, reason=comment,
            details={"new_prescription_id": str(new.id), "new_session_id": str(target.session_id)},
            changes={"next_prescription_id": new.id},
            event_fields={"new_prescription_id": new.id, "new_session_id": target.session_id},
        )
        return 201, await render(new, person)

    return await create_once(
        db, runtime.tables, hasher=runtime.hasher, principal=principal, operation=f"reorient:{old.id}",
        key=idempotency_key, payload=payload, create=create,
    )


async def prescribable_session(
    db: AsyncSession, settings: OrientationSettings, session_id: uuid.UUID, field: str
) -> CatalogueSession:
    """The target session must be known from the catalogue and open for recruitment, else a
    409 naming the field: the request is well-formed, the catalogue as it is now says no."""
    return _prescribable(await db.get(CatalogueSession, session_id), settings, field)


def _prescribable(row: Any, settings: OrientationSettings, field: str) -> Any:
    """The session (any object with its read model's columns) if it may take a prescription, else 409."""
    if row is None:
        raise Conflict("unknown session: no such session published in the catalogue", slug="unknown-reference", field=field)
    if not open_for_prescription(row.recruitment_state, row.cancelled, settings.prescribable_recruitment_states):
        state = "cancelled" if row.cancelled else row.recruitment_state
        raise Conflict(f"the session is not open for recruitment (it is {state})", slug="session-not-open", field=field)
    return row


async def _create(
    db: AsyncSession,
    runtime: Runtime,
    *,
    person: Any,
    catalogue_session: Any,
    profile: PersonProfile,
    prescriber_kind: str,
    prescriber_code: str,
    professional_project: str,
    comment: str | None,
    actor: str,
    at: datetime,
    previous: Prescription | None = None,
) -> SimpleNamespace:
    """A submitted prescription, its first log row and its event, as Core INSERTs; 409 when the
    person already has one active on the session (the unique `active_slot` says so, under races
    too). Returns the stored columns (attribute access as on the model)."""
    values = dict(
        _EMPTY_PRESCRIPTION,
        id=uuid.uuid4(),
        version=1,
        status=Status.SUBMITTED.value,
        person_id=person.person_id,
        session_id=catalogue_session.session_id,
        organisation_siret=catalogue_session.organisation_siret,
        prescriber_kind=prescriber_kind,
        prescriber_code=prescriber_code,
        active_slot=active_slot(person.person_id, catalogue_session.session_id),
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
    try:
        await db.execute(_INSERT_PRESCRIPTION, values)
    except IntegrityError:  # the person's slot on this session is taken (maybe by a concurrent submission)
        await db.rollback()
        raise _duplicate() from None
    prescription = SimpleNamespace(**values)
    log_row = PRESCRIPTION.creation_row(
        prescription.status, actor=actor, action=SUBMIT, at=at,
        details={"previous_prescription_id": str(previous.id)} if previous else None,
        prescription_id=prescription.id, sequence=1,
    )
    await db.execute(_INSERT_TRANSITION, {"id": uuid.uuid4(), **log_row})
    await publish_transition(runtime.outbox, db, prescription, None, actor=actor, at=at)
    return prescription


_INSERT_PRESCRIPTION = Prescription.__table__.insert()
_INSERT_TRANSITION = PrescriptionTransition.__table__.insert()
_EMPTY_PRESCRIPTION = {column.key: None for column in Prescription.__table__.columns}


def _duplicate() -> Conflict:
    return Conflict(
        "This person already has an active prescription for this session",
        slug="duplicate-prescription",
        title="Prescription already active",
    )


# ---------------------------------------------------------------- what the sessions service reports (no commit)


async def on_trainee_enrolled(db: AsyncSession, event: TraineeEnrolled) -> None:
    """Sessions opened the file of our admission: its place now counts in `places_taken`."""
    if event.dossier.prescription_id is None:
        return
    # Not a transition: no version bump, so partners' ETags stay valid.
    await db.execute(
        update(Prescription)
        .where(Prescription.id == event.dossier.prescription_id, Prescription.dossier_id.is_(None))
        .values(dossier_id=event.dossier.dossier_id)
        .execution_options(synchronize_session=False)
    )


async def on_trainee_entered(db: AsyncSession, runtime: Runtime, event: TraineeEntered) -> None:
    """The admitted person entered training; the same entry told twice changes nothing."""
    await refresh_places(db, event.dossier.session)
    prescription = await _prescription_of(db, event)
    if prescription is None:
        return
    if prescription.status != Status.ADMITTED.value:
        # Already entered (the same entry told twice) or closed otherwise: nothing to change.
        log.info("entry of prescription %s ignored in state %s", prescription.id, prescription.status)
        return
    await _move(
        db, runtime, prescription, Action.ENTER, actor=event.actor, at=utcnow(), role=Role.SYSTEM,
        reason=f"entry on {event.entry_date.isoformat()}",
        details={"dossier_id": str(event.dossier.dossier_id), "entry_date": event.entry_date.isoformat()},
        changes={"dossier_id": event.dossier.dossier_id},
    )


async def on_trainee_cancelled(db: AsyncSession, runtime: Runtime, event: TraineeCancelled) -> None:
    """The admission (or the entry, declared by mistake) was cancelled by the organisation."""
    await refresh_places(db, event.dossier.session)
    prescription = await _prescription_of(db, event)
    if prescription is None:
        return
    if prescription.status not in (Status.ADMITTED.value, Status.ENTERED.value):
        log.info("cancellation of prescription %s ignored in state %s", prescription.id, prescription.status)
        return
    await _move(
        db, runtime, prescription, Action.CANCEL_ADMISSION, actor=event.actor, at=utcnow(), role=Role.SYSTEM,
        reason=event.reason, details={"dossier_id": str(event.dossier.dossier_id)},
        changes={"dossier_id": event.dossier.dossier_id},
    )


async def _prescription_of(db: AsyncSession, event: TraineeEvent) -> Prescription | None:
    prescription_id = event.dossier.prescription_id
    if prescription_id is None:
        return None  # a direct enrolment by the organisation: not ours
    return await db.get(Prescription, prescription_id)


# ---------------------------------------------------------------- the expiry job


async def expire_overdue(runtime: Runtime) -> int:
    """One pass: expires every overdue prescription, each in its own transaction; returns how many."""
    settings: OrientationSettings = runtime.settings
    now = utcnow()
    deadline = now - settings.prescription_expiry_delay
    async with runtime.db_factory() as db:
        overdue = await overdue_prescriptions(db, deadline, settings.expiry_batch_size)
    expired = 0
    for prescription_id in overdue:
        expired += await _expire(runtime, prescription_id, deadline, now)
    return expired


async def _expire(runtime: Runtime, prescription_id: uuid.UUID, deadline: datetime, now: datetime) -> bool:
    settings: OrientationSettings = runtime.settings
    async with runtime.db_factory() as db:
        prescription = await db.get(Prescription, prescription_id)
        # Re-checked in this transaction: an answer may have come since the scan.
        if prescription is None or prescription.status not in EXPIRABLE_STATUSES:
            return False
        if prescription.status_changed_at > deadline:
            return False
        try:
            await _move(
                db, runtime, prescription, Action.EXPIRE, actor=EXPIRY_ACTOR, at=now, role=Role.SYSTEM,
                reason=f"no answer within {settings.prescription_expiry_delay.days} days",
                details={"last_change_at": prescription.status_changed_at.isoformat()},
            )
            await db.commit()
        except StaleDataError:
            await db.rollback()  # answered meanwhile: the answer wins
            return False
    return True


async def expiry_job(runtime: Runtime, stop: asyncio.Event) -> None:
    """Prescriptions the organisation did not answer within the delay expire (every interval)."""
    settings: OrientationSettings = runtime.settings
    while not stop.is_set():
        count = await expire_overdue(runtime)
        if count:
            log.info("expired %d prescriptions", count)
        try:
            await asyncio.wait_for(stop.wait(), settings.expiry_check_interval_s)
        except TimeoutError:
            pass
