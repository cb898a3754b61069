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
from pacte_common.tracing import current_traceparent
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.app import dossiers, france_travail
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


async def handle_trainee_events(db: AsyncSession, runtime: GatewayRuntime, envelopes: list[Envelope]) -> None:
    """A run of trainee events of one partition batch: their files read and locked once (AGORA's
    and France Travail's), then each event in order, in memory; the consumer's commit writes
    them all. One statement per event was the gateway consumer's cost (docs/france-travail.md §6)."""
    dossier_ids = {envelope.data.dossier.dossier_id for envelope in envelopes}  # type: ignore[union-attr]
    agora_files = await dossiers.followed_files(db, dossier_ids)
    ft_files = await france_travail.followed_files(db, dossier_ids)
    for envelope in envelopes:
        event: TraineeEvent = envelope.data  # type: ignore[assignment]
        step = STEPS[type(event)]
        token = current_traceparent.set(envelope.traceparent)  # each file's events continue its journey's trace
        try:
            dossiers.on_trainee_event(db, runtime, agora_files, event, step)
            france_travail.on_trainee_event(db, runtime, ft_files, event, step)
        finally:
            current_traceparent.reset(token)


trainee_subscription = Subscription(name="trainees", handlers={}, batch_handlers={cls: handle_trainee_events for cls in STEPS})


async def handle_attendance_statement(db: AsyncSession, runtime: GatewayRuntime, envelope: Envelope) -> None:
    event: AttendanceEvent = envelope.data  # type: ignore[assignment]
    await france_travail.on_attendance_statement(db, runtime, event)


# The months signed on the attendance sheets, for France Travail (docs/france-travail.md §2).
attendance_subscription = Subscription(
    name="attendance", handlers={AttendanceRecorded: handle_attendance_statement, AttendanceCorrected: handle_attendance_statement}
)

SUBSCRIPTIONS = [trainee_subscription, attendance_subscription]
