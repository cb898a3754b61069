"""Queries and the few writes shared by the HTTP edge and the event handlers."""

from __future__ import annotations

import uuid
from datetime import datetime

from pacte_common.contracts.sessions import DossierStatus, SessionUpdated, TraineeEnrolled
from pacte_common.service import Runtime
from pacte_common.tracing import current_traceparent
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.models import (
    Action,
    AttendanceStatement,
    Dossier,
    DossierTransition,
    TrainingSession,
)
from sessions.domain.lifecycle import DossierAction
from sessions.domain.training import MonthlyAttendance, holds_place, recruitment_state_after
from sessions.events.publish import publish_catalogue, publish_trainee


async def session_for_update(db: AsyncSession, session_id: uuid.UUID) -> TrainingSession | None:
    """The session row, locked on PostgreSQL so two entries cannot take the last place twice.

    Every change of places (enrolment, entry, exit, cancellation) takes this lock first, so the
    recount, the version and the SessionUpdated it publishes follow commit order. The row is
    re-read under the lock (populate_existing): a copy loaded earlier in the transaction may be stale.
    """
    query = (
        select(TrainingSession)
        .where(TrainingSession.id == session_id)
        .with_for_update(of=TrainingSession)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(query)).unique().scalar_one_or_none()


async def dossier_by_id(db: AsyncSession, dossier_id: uuid.UUID, *, for_update: bool = False) -> Dossier | None:
    query = select(Dossier).where(Dossier.id == dossier_id)
    if for_update:
        query = query.with_for_update(of=Dossier)
    return (await db.execute(query)).unique().scalar_one_or_none()


async def count_places_taken(db: AsyncSession, session: TrainingSession) -> int:
    rows = (
        await db.execute(
            select(Dossier.status, func.count()).where(Dossier.session_id == session.id).group_by(Dossier.status)
        )
    ).all()
    return sum(count for status, count in rows if holds_place(status, session.permanent_entries))


async def refresh_places(runtime: Runtime, db: AsyncSession, session: TrainingSession) -> None:
    """Recounts places taken; publishes SessionUpdated when they or the recruitment state change.

    The caller holds the session row's lock (session_for_update): the new version is then
    taken in commit order and consumers can drop any older snapshot.
    """
    await db.flush()
    taken = await count_places_taken(db, session)
    state = recruitment_state_after(session.recruitment_state, session.places, taken)
    if taken == session.places_taken and state == session.recruitment_state:
        return
    session.places_taken = taken
    session.recruitment_state = state
    session.version += 1
    await db.flush()
    await publish_catalogue(runtime, db, SessionUpdated, session)


def log_transition(
    db: AsyncSession,
    dossier: Dossier,
    action: DossierAction | str,
    from_status: str | None,
    actor: str,
    at: datetime,
    *,
    effective_date=None,
    declared_late: bool = False,
    reason: str | None = None,
) -> None:
    db.add(
        DossierTransition(
            dossier_id=dossier.id,
            action=str(action),
            from_status=from_status,
            to_status=dossier.status,
            effective_date=effective_date,
            declared_late=declared_late,
            reason=reason,
            actor=actor,
            at=at,
        )
    )


async def open_dossier(
    runtime: Runtime,
    db: AsyncSession,
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
    dossier = Dossier(
        id=uuid.uuid4(),
        session_id=session.id,
        session=session,
        prescription_id=prescription_id,
        prescriber_kind=prescriber_kind,
        prescriber_code=prescriber_code,
        person_id=person_id,
        profile=profile,
        identity_encrypted=identity_encrypted,
        has_nir=has_nir,
        nir_hash=nir_hash,
        status=DossierStatus.ENROLLED.value,
        created_by=actor,
        traceparent=current_traceparent.get(),
        version=1,
        skill_blocks_obtained=[],
        interruptions=[],
    )
    db.add(dossier)
    await db.flush()
    log_transition(db, dossier, "enrol", None, actor, at, reason="admitted prescription" if prescription_id else "direct enrolment")
    await publish_trainee(runtime, db, TraineeEnrolled, dossier, actor, at)
    return dossier


async def current_statements(db: AsyncSession, dossier_id: uuid.UUID) -> list[AttendanceStatement]:
    query = (
        select(AttendanceStatement)
        .where(AttendanceStatement.dossier_id == dossier_id, AttendanceStatement.current.is_(True))
        .order_by(AttendanceStatement.month)
    )
    return list((await db.execute(query)).scalars())


def as_attendance(statement: AttendanceStatement) -> MonthlyAttendance:
    return MonthlyAttendance(
        planned_hours=statement.planned_hours,
        attended_hours=statement.attended_hours,
        justified_absence_hours=statement.justified_absence_hours,
        unjustified_absence_hours=statement.unjustified_absence_hours,
        in_company_hours=statement.in_company_hours,
    )


async def sessions_of_action(db: AsyncSession, action_id: uuid.UUID) -> list[TrainingSession]:
    return list((await db.execute(select(TrainingSession).where(TrainingSession.action_id == action_id))).unique().scalars())


async def sessions_of_programme(db: AsyncSession, programme_id: uuid.UUID) -> list[TrainingSession]:
    query = select(TrainingSession).join(Action, TrainingSession.action_id == Action.id).where(Action.programme_id == programme_id)
    return list((await db.execute(query)).unique().scalars())
