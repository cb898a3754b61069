"""Consumers: who is in which session, from sessions' trainee events (the whole file in each)."""

from __future__ import annotations

from pacte_common.consumer import Subscription
from pacte_common.contracts import sessions as s
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.app import trainees


async def on_trainee(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    await trainees.on_trainee_event(db, runtime.cipher, envelope.data)


SUBSCRIPTIONS = [
    Subscription(name="trainees", handlers={cls: on_trainee for cls in (
        s.TraineeEnrolled, s.TraineeEntered, s.TraineeInterrupted, s.TraineeResumed, s.TraineeExited,
        s.TraineeCancelled, s.TraineeIdentityUpdated)}),
]
