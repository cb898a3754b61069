"""Consumes the sessions service's trainee events: decode, then the app's use cases (AGORA's
queue, France Travail's queue: one inbox transaction for both); and its attendance statements,
whose months signed on the sheets France Travail receives.

Each handler runs inside the inbox transaction (a redelivered event changes nothing); the
consumer commits.
"""

from __future__ import annotations

from pacte_common.consumer import Subscription
from pacte_common.contracts.sessions import (
    AttendanceCorrected,
    AttendanceEvent,
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
from pacte_common.events import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.app import france_travail
from agora_gateway.app.dossiers import on_trainee_event
from agora_gateway.domain.agora_file import TraineeStep
from agora_gateway.runtime import GatewayRuntime

STEPS: dict[type[TraineeEvent], TraineeStep] = {
    TraineeEnrolled: TraineeStep.ENROLLED,
    TraineeEntered: TraineeStep.ENTERED,
    TraineeInterrupted: TraineeStep.INTERRUPTED,
    TraineeResumed: TraineeStep.RESUMED,
    TraineeExited: TraineeStep.EXITED,
    TraineeCancelled: TraineeStep.CANCELLED,
    TraineeIdentityUpdated: TraineeStep.IDENTITY_UPDATED,
}


async def handle_trainee_event(db: AsyncSession, runtime: GatewayRuntime, envelope: Envelope) -> None:
    event: TraineeEvent = envelope.data  # type: ignore[assignment]
    step = STEPS[type(event)]
    await on_trainee_event(db, runtime, event, step)  # AGORA
    await france_travail.on_trainee_event(db, runtime, event, step)


trainee_subscription = Subscription(name="trainees", handlers={cls: handle_trainee_event for cls in STEPS})


async def handle_attendance_statement(db: AsyncSession, runtime: GatewayRuntime, envelope: Envelope) -> None:
    event: AttendanceEvent = envelope.data  # type: ignore[assignment]
    await france_travail.on_attendance_statement(db, runtime, event)


# The months signed on the attendance sheets, for France Travail (docs/france-travail.md §2).
attendance_subscription = Subscription(
    name="attendance", handlers={AttendanceRecorded: handle_attendance_statement, AttendanceCorrected: handle_attendance_statement}
)

SUBSCRIPTIONS = [trainee_subscription, attendance_subscription]
