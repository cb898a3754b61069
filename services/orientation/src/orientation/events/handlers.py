"""What orientation consumes: the catalogue (read model) and the trainee's entry or cancellation.

Each handler decodes the contract and calls one use case of app/. Handlers run inside the inbox
transaction (pacte_common.consumer), which commits: a redelivered event is skipped there, and a
second, distinct event with the same meaning changes nothing here.
"""

from __future__ import annotations

from pacte_common.consumer import Subscription
from pacte_common.contracts.sessions import (
    SessionCancelled,
    SessionClosed,
    SessionPublished,
    SessionUpdated,
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEntered,
)
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.app import catalogue, prescriptions


async def on_catalogue_event(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    data = envelope.data
    await catalogue.on_catalogue_event(
        db, data.session, event_type=envelope.type,
        closed=isinstance(data, SessionClosed), cancelled=isinstance(data, SessionCancelled),
    )


async def on_trainee_enrolled(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeEnrolled = envelope.data
    await prescriptions.on_trainee_enrolled(db, event)


async def on_trainee_entered(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeEntered = envelope.data
    await prescriptions.on_trainee_entered(db, runtime, event)


async def on_trainee_cancelled(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: TraineeCancelled = envelope.data
    await prescriptions.on_trainee_cancelled(db, runtime, event)


SUBSCRIPTIONS = [
    Subscription(
        name="catalogue",
        handlers={
            SessionPublished: on_catalogue_event,
            SessionUpdated: on_catalogue_event,
            SessionClosed: on_catalogue_event,
            SessionCancelled: on_catalogue_event,
        },
    ),
    Subscription(
        name="trainees",
        handlers={
            TraineeEnrolled: on_trainee_enrolled,
            TraineeEntered: on_trainee_entered,
            TraineeCancelled: on_trainee_cancelled,
        },
    ),
]
