"""Consumers: the trainee's life from sessions, its monthly attendance statements, and France
Travail's answers (from the AGORA gateway).

Each handler decodes the contract and calls one use case of app/. Handlers run inside the inbox
transaction (pacte_common.consumer), which commits: the effects and the events published commit
together, and a redelivered event changes nothing.
"""

from __future__ import annotations

from pacte_common.consumer import Subscription
from pacte_common.contracts.france_travail import FranceTravailBenefitAnswered
from pacte_common.contracts.sessions import (
    AttendanceCorrected,
    AttendanceRecorded,
    AttendanceVoided,
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
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.app import attendance, files


async def on_trainee_snapshot(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeEvent = envelope.data
    await files.on_trainee_snapshot(db, runtime, event)


async def on_entered(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeEntered = envelope.data
    await files.on_entered(db, runtime, event)


async def on_interrupted(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeInterrupted = envelope.data
    await files.on_interrupted(db, runtime, event)


async def on_resumed(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeResumed = envelope.data
    await files.on_resumed(db, runtime, event)


async def on_exited(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeExited = envelope.data
    await files.on_exited(db, runtime, event)


async def on_cancelled(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeCancelled = envelope.data
    await files.on_cancelled(db, runtime, event)


async def on_attendance(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: AttendanceRecorded = envelope.data
    await attendance.on_attendance(db, event)


async def on_attendance_voided(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: AttendanceVoided = envelope.data
    await attendance.on_voided(db, event)


async def on_france_travail_answer(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: FranceTravailBenefitAnswered = envelope.data
    await files.on_france_travail_answer(db, runtime, event)


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
    Subscription(name="attendance", handlers={AttendanceRecorded: on_attendance, AttendanceCorrected: on_attendance,
                                              AttendanceVoided: on_attendance_voided}),
    # France Travail's answers, through the AGORA gateway: the regime decided from the benefit
    Subscription(name="france-travail", handlers={FranceTravailBenefitAnswered: on_france_travail_answer}),
]
