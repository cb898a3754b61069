"""Consumers: insights' read models from the other services' events (docs/insights.md).

One consumer group per topic read; `pacte insights rebuild` empties the read models and sets
these groups back to the earliest offsets, so each topic is replayed into them. Each use case runs in the inbox transaction (app/read_models.py).
"""

from __future__ import annotations

from pacte_common.consumer import Subscription
from pacte_common.contracts import orientation as o
from pacte_common.contracts import sessions as s
from pacte_common.contracts.outcomes import OutcomeRecorded
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from insights.app import read_models

CATALOGUE = (s.SessionPublished, s.SessionUpdated, s.SessionClosed, s.SessionCancelled)
TRAINEES = (s.TraineeEnrolled, s.TraineeEntered, s.TraineeInterrupted, s.TraineeResumed, s.TraineeExited,
            s.TraineeCancelled, s.TraineeIdentityUpdated)
PRESCRIPTIONS = (o.PrescriptionSubmitted, o.PositioningScheduled, o.PrescriptionAdmitted, o.PrescriptionRefused,
                 o.PrescriptionWaitlisted, o.PrescriptionWithdrawn, o.PrescriptionExpired, o.PrescriptionReoriented,
                 o.PrescriptionEntered, o.AdmissionCancelled)


async def on_catalogue(db: AsyncSession, runtime: Runtime, envelopes: list[Envelope]) -> None:
    await read_models.on_catalogue_events(db, [envelope.data for envelope in envelopes])


async def on_review(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    await read_models.on_review(db, envelope.data)


async def on_trainee(db: AsyncSession, runtime: Runtime, envelopes: list[Envelope]) -> None:
    await read_models.on_trainee_events(db, [envelope.data for envelope in envelopes])


async def on_outcome(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    await read_models.on_outcome(db, envelope.data)


async def on_prescription(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    await read_models.on_prescription_event(db, envelope.data)


async def on_attendance(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    await read_models.on_attendance(db, envelope.data)


async def on_attendance_voided(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    await read_models.on_attendance_voided(db, envelope.data)


def subscriptions() -> list[Subscription]:
    """The catalogue (and the ANOTEA reviews on its topic), the trainees' files (and their
    outcomes on their topic), the monthly statements and orientation's prescriptions (the
    trajectories'), each in a group of its own. Runs of catalogue and trainee events are handled
together: one read of the rows they touch, one write per table (app/read_models.py)."""
    return [
        Subscription(name="catalogue", handlers={s.SatisfactionReviewRecorded: on_review},
                     batch_handlers=dict.fromkeys(CATALOGUE, on_catalogue)),
        Subscription(name="trainees", handlers={OutcomeRecorded: on_outcome}, batch_handlers=dict.fromkeys(TRAINEES, on_trainee)),
        Subscription(name="attendance", handlers={s.AttendanceRecorded: on_attendance, s.AttendanceCorrected: on_attendance,
                                                      s.AttendanceVoided: on_attendance_voided}),
        Subscription(name="prescriptions", handlers=dict.fromkeys(PRESCRIPTIONS, on_prescription)),
    ]
