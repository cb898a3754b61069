"""The training file's use cases: enrolment (direct or from an admitted prescription), the
lifecycle declarations (entry, interruption, resumption, exit, cancellation), the identity and
the monthly attendance.

Each loads what it needs, checks the date rules (domain/training.py: 422 naming the field),
moves the file along `DOSSIER` (409 with the allowed actions; the move adds the log row: who,
when, from, to, why, trace id), publishes the event to the outbox and, when called from HTTP,
commits: the file, its log and its event commit together or not at all. `on_admitted` (a
consumed event) does not commit: the consumer commits it with the inbox row. The HTTP edge has
already found the file visible to and writable by the caller (api/dossiers.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from pacte_common.auth import Principal
from pacte_common.clock import utcnow
from pacte_common.contracts.orientation import PrescriptionAdmitted
from pacte_common.contracts.people import PersonIdentity, open_identity, seal_identity
from pacte_common.contracts.sessions import (
    CertificationResult,
    DossierStatus,
    DropoutReason,
    ExitKind,
    InterruptionReason,
    SessionUpdated,
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEntered,
    TraineeExited,
    TraineeIdentityUpdated,
    TraineeInterrupted,
    TraineeResumed,
)
from pacte_common.errors import ConcurrentUpdate, Conflict, Invalid, InvalidTransition
from pacte_common.http import check_if_match
from pacte_common.idempotency import Answer, create_once
from pacte_common.service import Runtime
from pacte_common.tracing import current_trace_id, current_traceparent
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.models import (
    AttendanceStatement,
    Dossier,
    DossierTransition,
    Interruption,
    TrainingSession,
)
from sessions.db.queries import (
    as_attendance,
    count_places_taken,
    current_statements,
    month_history,
    person_of_nir,
    places_taken,
    session_for_update,
    session_taken_by,
)
from sessions.domain.calendar import WorkingCalendar
from sessions.domain.indicators import profile_facts
from sessions.domain.lifecycle import DOSSIER, DossierAction
from sessions.domain.training import (
    CENT,
    InterruptionSpan,
    MonthlyAttendance,
    RuleBroken,
    SessionPeriod,
    cancel_void_reason,
    check_attendance,
    check_entry,
    check_exit,
    check_interruption,
    check_resumption,
    exit_void_reason,
    holds_place,
    months_after,
    realised_cost,
    recruitment_state_after,
)
from sessions.events.publish import (
    dossier_snapshot,
    publish_attendance,
    publish_attendance_voided,
    publish_catalogue,
    publish_trainee,
    session_snapshot,
)

log = logging.getLogger(__name__)

# Renders a created file as the answer's body (api/), which idempotent replays repeat.
Render = Callable[[Dossier], Any]


# ---------------------------------------------------------------- shared pieces


def hours(value: Decimal) -> Decimal:
    """Hours as stored: two decimals, whether the row comes from the request or the database."""
    return Decimal(value).quantize(CENT)


def rule(check, *args, **kwargs) -> None:
    """A date or hours rule of domain/training.py: 422 naming the field it is about."""
    try:
        check(*args, **kwargs)
    except RuleBroken as broken:
        raise Invalid(broken.message, field=broken.field) from None


def is_late(runtime: Runtime, declared: date, today: date) -> bool:
    settings = runtime.settings
    calendar = WorkingCalendar(settings.holiday_country, settings.holiday_subdivision)
    return calendar.is_late(declared, today, settings.declaration_delay_working_days)


def spans(dossier: Dossier) -> list[InterruptionSpan]:
    return [InterruptionSpan(i.start_date, i.resumption_date) for i in dossier.interruptions]


async def refresh_places(db: AsyncSession, runtime: Runtime, session: TrainingSession) -> None:
    """Recounts places taken; publishes SessionUpdated when they or the recruitment state change.

    The caller holds the session row's lock (session_for_update): the new version (bumped by the
    flush) is then taken in commit order and consumers can drop any older snapshot.
    """
    await db.flush()
    taken = await count_places_taken(db, session)
    state = recruitment_state_after(session.recruitment_state, session.places, taken)
    if taken == session.places_taken and state == session.recruitment_state:
        return
    session.places_taken = taken
    session.recruitment_state = state
    await db.flush()
    await publish_catalogue(db, runtime, SessionUpdated, session)


def _ready(dossier: Dossier, action: DossierAction, if_match: str | None) -> None:
    """412 when the caller acted on a stale version, 409 when the table says no from here."""
    check_if_match(if_match, dossier.version)
    DOSSIER.step(dossier.status, action)


def _move(
    db: AsyncSession, dossier: Dossier, action: DossierAction, *, actor: str, at: datetime,
    effective_date: date | None = None, declared_late: bool = False, reason: str | None = None,
) -> None:
    DOSSIER.move(
        db, dossier, action, log=DossierTransition, actor=actor, at=at, reason=reason,
        dossier_id=dossier.id, effective_date=effective_date, declared_late=declared_late,
    )


# ---------------------------------------------------------------- enrolment


async def open_dossier(
    db: AsyncSession,
    runtime: Runtime,
    *,
    session: TrainingSession,
    person_id: uuid.UUID,
    profile: dict,
    identity_encrypted: str | None,
    has_nir: bool,
    nir_hash: str | None,
    actor: str,
    at: datetime,
    prescription_id: uuid.UUID | None = None,
    prescriber_kind: str | None = None,
    prescriber_code: str | None = None,
) -> Dossier:
    """The new file (enrolled), its first log row and TraineeEnrolled, in the caller's transaction."""
    dossier = Dossier(
        id=uuid.uuid4(), session_id=session.id, session=session,
        prescription_id=prescription_id, prescriber_kind=prescriber_kind, prescriber_code=prescriber_code,
        person_id=person_id, profile=profile, **profile_facts(profile), identity_encrypted=identity_encrypted, has_nir=has_nir,
        nir_hash=nir_hash, status=DossierStatus.ENROLLED.value, created_by=actor,
        traceparent=current_traceparent.get(), skill_blocks_obtained=[], interruptions=[],
    )
    db.add(dossier)
    await db.flush()
    DOSSIER.record_creation(
        db, dossier, log=DossierTransition, actor=actor, action="enrol", at=at,
        reason="admitted prescription" if prescription_id else "direct enrolment", dossier_id=dossier.id,
    )
    await publish_trainee(db, runtime, TraineeEnrolled, dossier, actor, at)
    return dossier


@dataclass(frozen=True)
class Enrolment:
    """What a training organisation (or the Region) sends to enrol a person directly."""

    session_id: uuid.UUID
    person_id: uuid.UUID | None
    identity: PersonIdentity
    profile: dict


async def enrol(
    db: AsyncSession, runtime: Runtime, principal: Principal, enrolment: Enrolment, *,
    may_enrol_in: Callable[[TrainingSession], bool], payload: Any, idempotency_key: str | None, render: Render,
) -> Answer:
    """Direct enrolment: 409 for a session the caller may not enrol in (`may_enrol_in`, the rule of
    api/access.py: an organisation's own sessions) or a person already enrolled in it; once per
    idempotency key (create_once commits)."""

    async def create() -> tuple[int, Any]:
        session = await session_for_update(db, enrolment.session_id)
        if session is None or not may_enrol_in(session):
            raise Conflict("no session of yours with this id", slug="unknown-reference", field="body.session_id")
        identity = enrolment.identity
        nir_hash = runtime.hasher.hash("nir", identity.nir) if identity.nir else None
        person_id = enrolment.person_id
        if person_id is None and nir_hash:
            person_id = await person_of_nir(db, nir_hash)
        person_id = person_id or uuid.uuid4()
        if await session_taken_by(db, session.id, person_id):
            raise Conflict("this person already has a training file in this session")
        dossier = await open_dossier(
            db, runtime, session=session, person_id=person_id, profile=enrolment.profile,
            identity_encrypted=seal_identity(runtime.cipher, identity), has_nir=identity.nir is not None,
            nir_hash=nir_hash, actor=principal.describe(), at=utcnow(),
        )
        return 201, render(dossier)

    return await create_once(
        db, runtime.tables, hasher=runtime.hasher, principal=principal, operation="create-dossier",
        key=idempotency_key, payload=payload, create=create,
    )


class UnknownSession(LookupError):
    """The prescription names a session this service does not know: retried, then dead-lettered."""


async def on_admitted(db: AsyncSession, runtime: Runtime, event: PrescriptionAdmitted) -> None:
    """An admitted prescription opens the training file, once (no commit: the consumer's)."""
    existing = await db.execute(select(Dossier.id).where(Dossier.prescription_id == event.prescription_id))
    if existing.first():
        log.info("prescription %s already has its training file", event.prescription_id)
        return  # the same admission re-published under another event id changes nothing
    session = await session_for_update(db, event.session_id)
    if session is None:
        raise UnknownSession(f"session {event.session_id} is not in the catalogue")
    nir_hash = None
    if event.identity_encrypted and event.has_nir:
        # The same NIR must find the same person later (direct enrolment looks it up).
        identity = open_identity(runtime.cipher, event.identity_encrypted)
        nir_hash = runtime.hasher.hash("nir", identity.nir) if identity.nir else None
    dossier = await open_dossier(
        db, runtime, session=session, person_id=event.person_id, profile=event.profile.model_dump(mode="json"),
        identity_encrypted=event.identity_encrypted, has_nir=event.has_nir, nir_hash=nir_hash,
        actor=event.actor, at=event.occurred_at, prescription_id=event.prescription_id,
        prescriber_kind=event.prescriber_kind, prescriber_code=event.prescriber_code,
    )
    log.info("training file %s opened for prescription %s", dossier.id, event.prescription_id)


# ---------------------------------------------------------------- identity


async def update_identity(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, identity: PersonIdentity, *, actor: str, if_match: str | None
) -> Dossier:
    """Completes or corrects the identity (typically the NIR added later); the same again changes nothing."""
    check_if_match(if_match, dossier.version)
    if dossier.status == DossierStatus.CANCELLED.value:
        raise InvalidTransition("update-identity", dossier.status, [])
    if dossier.identity_encrypted and open_identity(runtime.cipher, dossier.identity_encrypted) == identity:
        return dossier
    now = utcnow()
    dossier.identity_encrypted = seal_identity(runtime.cipher, identity)
    dossier.has_nir = identity.nir is not None
    dossier.nir_hash = runtime.hasher.hash("nir", identity.nir) if identity.nir else None
    db.add(DossierTransition(  # not a move: the file stays where it is
        dossier_id=dossier.id, action="update-identity", from_status=dossier.status, to_status=dossier.status,
        actor=actor, at=now, reason="identity completed", trace_id=current_trace_id(), details={},
    ))
    await db.flush()
    await publish_trainee(db, runtime, TraineeIdentityUpdated, dossier, actor, now)
    await db.commit()
    return dossier


# ---------------------------------------------------------------- lifecycle


# The entry's writes, built once (each call binds its values): the version in the WHERE is the
# one read under the row lock, so a writer that ignored the lock is seen (rowcount 0).
_DOSSIERS, _SESSIONS = Dossier.__table__, TrainingSession.__table__
_ENTER = (
    update(_DOSSIERS)
    .where(_DOSSIERS.c.id == bindparam("b_id"), _DOSSIERS.c.version == bindparam("b_version"))
    .values(status=bindparam("b_status"), entry_date=bindparam("b_entry_date"), entry_declared_late=bindparam("b_late"),
            version=bindparam("b_next_version"), updated_at=bindparam("b_at"))
)
_PLACES_MOVED = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("b_id"), _SESSIONS.c.version == bindparam("b_version"))
    .values(places_taken=bindparam("b_taken"), recruitment_state=bindparam("b_state"),
            version=bindparam("b_next_version"), updated_at=bindparam("b_at"))
)
_LOG = insert(DossierTransition.__table__)


async def declare_entry(
    db: AsyncSession, runtime: Runtime, dossier: SimpleNamespace, *, entry_date: date, actor: str, today: date, if_match: str | None
) -> SimpleNamespace:
    """The entry, on the file and session read and locked together (db.queries.dossier_view_for_update).

    The hot path of the entry (docs/scaling.md, "Dossier entry in sessions"): one count of the places, then
    Core statements — the file's change, its log row, the session's places when they move, and
    both events in one outbox INSERT — in the same transaction as the ORM path it replaces.
    """
    _ready(dossier, DossierAction.ENTER, if_match)
    session = dossier.session
    period = SessionPeriod(session.start_date, session.end_date, session.places, session.permanent_entries)
    taken = await places_taken(db, session.id, session.permanent_entries)
    rule(check_entry, period, entry_date, taken)
    late = is_late(runtime, entry_date, today)
    now = utcnow()
    source = dossier.status
    log_row = DOSSIER.checked_row(
        source, DossierAction.ENTER, actor=actor, at=now, dossier_id=dossier.id, effective_date=entry_date, declared_late=late,
    )
    target = log_row["to_status"]
    changed = await db.execute(_ENTER, {
        "b_id": dossier.id, "b_version": dossier.version, "b_status": target, "b_entry_date": entry_date, "b_late": late,
        "b_next_version": dossier.version + 1, "b_at": now,
    })
    if changed.rowcount != 1:  # the row is locked: only a writer ignoring the lock gets here
        raise ConcurrentUpdate("The training file was changed by another request meanwhile; reload it and retry")
    dossier.status, dossier.entry_date, dossier.entry_declared_late = target, entry_date, late
    dossier.version, dossier.updated_at = dossier.version + 1, now
    await db.execute(_LOG, log_row)
    events: list[tuple[Any, str, str | None]] = []
    session_event = await _places_moved(db, session, taken, source, target, at=now)
    if session_event is not None:
        events.append((session_event, str(session.id), None))
    events.append((
        TraineeEntered(
            dossier=dossier_snapshot(dossier, session=session_event.session if session_event else None),
            occurred_at=now, actor=actor, entry_date=entry_date, declared_late=late,
        ),
        str(dossier.id), dossier.traceparent,  # the file's trace, whichever call acts on it
    ))
    await runtime.outbox.publish_many(db, events)
    await db.commit()
    return dossier


async def _places_moved(
    db: AsyncSession, session: SimpleNamespace, taken: int, source: str, target: str, *, at: datetime
) -> SessionUpdated | None:
    """`refresh_places` for a file moving from `source` to `target` in a session whose places
    were counted (`taken`) under its lock: the count after the move follows from the two
    statuses, without counting again; the session's row and SessionUpdated when they change."""
    after = taken - holds_place(source, session.permanent_entries) + holds_place(target, session.permanent_entries)
    state = recruitment_state_after(session.recruitment_state, session.places, after)
    if after == session.places_taken and state == session.recruitment_state:
        return None
    changed = await db.execute(_PLACES_MOVED, {
        "b_id": session.id, "b_version": session.version, "b_taken": after, "b_state": state,
        "b_next_version": session.version + 1, "b_at": at,
    })
    if changed.rowcount != 1:
        raise ConcurrentUpdate("The session was changed by another request meanwhile; reload it and retry")
    session.places_taken, session.recruitment_state = after, state
    session.version, session.updated_at = session.version + 1, at
    return SessionUpdated(session=session_snapshot(session))


async def declare_interruption(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, *, start_date: date, reason: InterruptionReason,
    comment: str | None, expected_return_date: date | None, actor: str, today: date, if_match: str | None,
) -> Dossier:
    _ready(dossier, DossierAction.INTERRUPT, if_match)
    rule(check_interruption, dossier.entry_date, spans(dossier), start_date, expected_return_date)
    late = is_late(runtime, start_date, today)
    now = utcnow()
    interruption = Interruption(
        id=uuid.uuid4(), dossier_id=dossier.id, start_date=start_date, reason=reason.value, comment=comment,
        expected_return_date=expected_return_date, declared_late=late, created_at=now,
    )
    dossier.interruptions.append(interruption)
    _move(db, dossier, DossierAction.INTERRUPT, actor=actor, at=now, effective_date=start_date, declared_late=late, reason=reason.value)
    await db.flush()
    await publish_trainee(
        db, runtime, TraineeInterrupted, dossier, actor, now,
        interruption_id=interruption.id, start_date=start_date, reason=reason,
        expected_return_date=expected_return_date, declared_late=late,
    )
    await db.commit()
    return dossier


async def declare_resumption(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, *, resumption_date: date, actor: str, today: date, if_match: str | None
) -> Dossier:
    _ready(dossier, DossierAction.RESUME, if_match)
    open_interruption = next(i for i in reversed(dossier.interruptions) if i.resumption_date is None)
    rule(check_resumption, InterruptionSpan(open_interruption.start_date, None), resumption_date)
    now = utcnow()
    open_interruption.resumption_date = resumption_date
    late = is_late(runtime, resumption_date, today)
    _move(db, dossier, DossierAction.RESUME, actor=actor, at=now, effective_date=resumption_date, declared_late=late)
    await db.flush()
    await publish_trainee(
        db, runtime, TraineeResumed, dossier, actor, now, interruption_id=open_interruption.id, resumption_date=resumption_date
    )
    await db.commit()
    return dossier


@dataclass(frozen=True)
class ExitDeclaration:
    exit_date: date
    kind: ExitKind
    dropout_reason: DropoutReason | None
    comment: str | None
    certification_result: CertificationResult | None
    skill_blocks_obtained: list[str]


async def void_statements(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, statements: list[AttendanceStatement], *, reason: str, at: datetime
) -> None:
    """Voids months a late exit or cancellation leaves outside the training: the statements stay
    (history), marked voided, and AttendanceVoided goes out for each, in the caller's transaction."""
    for statement in statements:
        statement.voided_at = at
        statement.voided_reason = reason
    await db.flush()
    for statement in statements:
        await publish_attendance_voided(db, runtime, dossier, statement)


async def _realised_hours(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, declared: ExitDeclaration, *, today: date, at: datetime
) -> Decimal:
    """The hours of the current statements up to the exit; the months after it are voided."""
    statements = [s for s in await current_statements(db, dossier.id) if s.voided_at is None]
    after = set(months_after(declared.exit_date, [s.month for s in statements]))
    voided = [s for s in statements if s.month in after]
    if voided:
        await void_statements(db, runtime, dossier, voided, reason=exit_void_reason(declared.exit_date, today), at=at)
    kept = [s for s in statements if s.month not in after]
    return hours(sum((as_attendance(s).realised_hours for s in kept), Decimal("0")))


def _check_skill_blocks(dossier: Dossier, declared: ExitDeclaration) -> None:
    action = dossier.session.action
    unknown = [b for b in declared.skill_blocks_obtained if action.skill_blocks and b not in action.skill_blocks]
    if unknown:
        raise Invalid(f"skill blocks not in the action's certification: {', '.join(unknown)}", field="body.skill_blocks_obtained")


async def declare_exit(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, declared: ExitDeclaration, *, actor: str, today: date, if_match: str | None
) -> Dossier:
    """The exit, however late; computes the realised hours and the cost (solde) from the
    attendance up to the exit and voids the months after it."""
    _ready(dossier, DossierAction.EXIT, if_match)
    rule(check_exit, dossier.entry_date, spans(dossier), declared.exit_date)
    _check_skill_blocks(dossier, declared)
    now = utcnow()
    realised = await _realised_hours(db, runtime, dossier, declared, today=today, at=now)
    hourly_price = dossier.session.action.hourly_price
    cost = realised_cost(realised, hourly_price)
    late = is_late(runtime, declared.exit_date, today)
    reason = declared.kind.value + (f": {declared.dropout_reason.value}" if declared.dropout_reason else "")
    _move(db, dossier, DossierAction.EXIT, actor=actor, at=now, effective_date=declared.exit_date, declared_late=late, reason=reason)
    dossier.exit_date = declared.exit_date
    dossier.exit_kind = declared.kind.value
    dossier.dropout_reason = declared.dropout_reason.value if declared.dropout_reason else None
    dossier.exit_comment = declared.comment
    dossier.certification_result = declared.certification_result.value if declared.certification_result else None
    dossier.skill_blocks_obtained = list(declared.skill_blocks_obtained)
    dossier.realised_hours = realised
    dossier.cost = cost
    dossier.exit_declared_late = late
    await refresh_places(db, runtime, await session_for_update(db, dossier.session_id))
    await db.flush()
    await publish_trainee(
        db, runtime, TraineeExited, dossier, actor, now,
        exit_date=declared.exit_date, exit_kind=declared.kind, dropout_reason=declared.dropout_reason,
        certification_result=declared.certification_result, skill_blocks_obtained=list(declared.skill_blocks_obtained),
        realised_hours=realised, hourly_price=hourly_price, cost=cost, declared_late=late,
    )
    await db.commit()
    return dossier


async def cancel(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, *, reason: str, actor: str, today: date, if_match: str | None
) -> Dossier:
    """Cancels a file (entry declared by mistake): its place is given back and the attendance
    already recorded, however much, is voided."""
    _ready(dossier, DossierAction.CANCEL, if_match)
    now = utcnow()
    recorded = [s for s in await current_statements(db, dossier.id) if s.voided_at is None]
    if recorded:
        await void_statements(db, runtime, dossier, recorded, reason=cancel_void_reason(today), at=now)
    _move(db, dossier, DossierAction.CANCEL, actor=actor, at=now, reason=reason)
    dossier.cancel_reason = reason
    await refresh_places(db, runtime, await session_for_update(db, dossier.session_id))
    await db.flush()
    await publish_trainee(db, runtime, TraineeCancelled, dossier, actor, now, reason=reason)
    await db.commit()
    return dossier


# ---------------------------------------------------------------- attendance


@dataclass(frozen=True)
class Recorded:
    """A monthly statement as recorded (or found again unchanged), its older versions, and
    whether it is the month's first."""

    statement: AttendanceStatement
    history: list[AttendanceStatement]
    created: bool


async def record_attendance(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, month: str, statement: MonthlyAttendance, *, actor: str, today: date,
    source: str = "manual", commit: bool = True,
) -> Recorded:
    """Records a month, or corrects it (a new version superseding the last); the same again
    changes nothing. Only a month of the training: within the session's months and the file's
    entry to exit, not in the future (422 naming `path.month`)."""
    if dossier.status == DossierStatus.CANCELLED.value:
        raise InvalidTransition("record-attendance", dossier.status, [], detail="a cancelled file takes no attendance")
    session = dossier.session
    rule(
        check_attendance, statement, month, dossier.entry_date, dossier.exit_date,
        session_start=session.start_date, session_end=session.end_date, today=today,
    )
    history = await month_history(db, dossier.id, month)
    current = history[0] if history else None
    if current is not None and as_attendance(current) == statement:
        return Recorded(current, history[1:], created=False)  # same statement again: nothing new
    now = utcnow()
    if current is not None:
        current.current = False
        current.superseded_at = now
        await db.flush()
    recorded = AttendanceStatement(
        id=uuid.uuid4(), dossier_id=dossier.id, month=month, version=(current.version + 1) if current else 1,
        current=True, recorded_by=actor, recorded_at=now, source=source, **vars(statement),
    )
    db.add(recorded)
    await db.flush()
    await publish_attendance(db, runtime, dossier, recorded)
    if commit:  # a consumer (app/attendance_sheets.py) leaves the commit to its inbox transaction
        await db.commit()
    return Recorded(recorded, history, created=current is None)
