"""Consumers: the trainee's life from sessions and its monthly attendance statements.

Each handler runs inside the inbox transaction (pacte_common.consumer): its effects and the
events it publishes commit together, and a redelivered event changes nothing.
"""

from __future__ import annotations

import logging

from pacte_common.consumer import Subscription
from pacte_common.contracts.sessions import (
    AttendanceCorrected,
    AttendanceRecorded,
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEntered,
    TraineeEvent,
    TraineeExited,
    TraineeIdentityUpdated,
    TraineeInterrupted,
    TraineeResumed,
)
from pacte_common.db import utcnow
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from pacte_common.tracing import current_traceparent, parse_traceparent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.files import apply_snapshot, move_file, new_file, redecide_regime
from remuneration.db.models import AttendanceStatementRow, InterruptionRow, RemunerationFile
from remuneration.domain.formula import Attendance
from remuneration.domain.states import FileState

log = logging.getLogger(__name__)


async def _file_for(runtime: Runtime, session: AsyncSession, event: TraineeEvent) -> RemunerationFile:
    snapshot = event.dossier
    file = await session.get(RemunerationFile, snapshot.dossier_id, with_for_update=True)
    if file is None:
        file = new_file(snapshot)
        session.add(file)
        await session.flush()
    elif snapshot.version >= file.dossier_version:
        apply_snapshot(file, snapshot)
        await redecide_regime(session, runtime.outbox, runtime.settings.policy(), file, event.actor)
    if file.traceparent is None:
        # The journey's trace: the one of the first trainee event (the consumer made it current).
        file.traceparent = parse_traceparent(current_traceparent.get())
    return file


async def on_trainee_snapshot(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    await _file_for(runtime, session, envelope.data)


async def on_entered(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    event: TraineeEntered = envelope.data
    file = await _file_for(runtime, session, event)
    file.entry_date = event.entry_date
    if file.state == FileState.AWAITING_ENTRY:
        await move_file(session, runtime.outbox, runtime.settings.policy(), file, "enter", event.actor)


async def on_interrupted(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    event: TraineeInterrupted = envelope.data
    await _file_for(runtime, session, event)
    if await session.get(InterruptionRow, event.interruption_id) is None:
        session.add(InterruptionRow(interruption_id=event.interruption_id, dossier_id=event.dossier.dossier_id,
                                    start_date=event.start_date, reason=event.reason.value, declared_at=utcnow()))


async def on_resumed(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    event: TraineeResumed = envelope.data
    await _file_for(runtime, session, event)
    interruption = await session.get(InterruptionRow, event.interruption_id)
    if interruption is None:
        raise LookupError(f"resumption of unknown interruption {event.interruption_id}")
    if interruption.resumption_date != event.resumption_date:
        interruption.resumption_date, interruption.resumption_declared_at = event.resumption_date, utcnow()


async def on_exited(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    event: TraineeExited = envelope.data
    file = await _file_for(runtime, session, event)
    if file.exit_date != event.exit_date:
        file.exit_date, file.exit_declared_at = event.exit_date, utcnow()
    if file.state not in (FileState.CLOSED, FileState.CANCELLED):
        await move_file(session, runtime.outbox, runtime.settings.policy(), file, "exit", event.actor,
                        f"exit ({event.exit_kind.value}) on {event.exit_date.isoformat()}")


async def on_cancelled(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    event: TraineeCancelled = envelope.data
    file = await _file_for(runtime, session, event)
    if file.state != FileState.CANCELLED:
        file.cancelled_at = utcnow()
        await move_file(session, runtime.outbox, runtime.settings.policy(), file, "cancel", event.actor,
                        event.reason or "entry declared by mistake")


async def on_attendance(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    """Keeps every version; a version already known is a redelivery and changes nothing."""
    event: AttendanceRecorded = envelope.data
    hours = (event.planned_hours, event.attended_hours, event.justified_absence_hours,
             event.unjustified_absence_hours, event.in_company_hours)
    if any(h < 0 for h in hours):
        raise ValueError("attendance hours cannot be negative")  # dead-lettered after the retries
    Attendance(event.planned_hours, event.unjustified_absence_hours, event.version)  # same checks as the formula
    known = await session.scalar(
        select(AttendanceStatementRow.id).where(
            AttendanceStatementRow.dossier_id == event.dossier_id,
            AttendanceStatementRow.month == event.month,
            AttendanceStatementRow.version == event.version,
        )
    )
    if known is not None:
        log.info("attendance %s v%s of a file already known; ignored", event.month, event.version)
        return
    session.add(AttendanceStatementRow(
        dossier_id=event.dossier_id, month=event.month, version=event.version, planned_hours=event.planned_hours,
        attended_hours=event.attended_hours, justified_absence_hours=event.justified_absence_hours,
        unjustified_absence_hours=event.unjustified_absence_hours, in_company_hours=event.in_company_hours,
        recorded_at=event.recorded_at,
    ))


SUBSCRIPTIONS = [
    Subscription(
        name="trainees",
        handlers={
            TraineeEnrolled: on_trainee_snapshot,
            TraineeIdentityUpdated: on_trainee_snapshot,
            TraineeEntered: on_entered,
            TraineeInterrupted: on_interrupted,
            TraineeResumed: on_resumed,
            TraineeExited: on_exited,
            TraineeCancelled: on_cancelled,
        },
    ),
    Subscription(name="attendance", handlers={AttendanceRecorded: on_attendance, AttendanceCorrected: on_attendance}),
]
