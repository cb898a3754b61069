"""The prescriptions read model of trajectories, fed by orientation's prescription events.

A consumer group of its own (`trajectory`), separate from the one that opens training files:
a new group starts from the earliest offsets, so the read model fills itself with the
prescriptions still on the topic when it is first deployed, and a failure here never holds
the opening of files back. Each event is a step of its prescription (keyed by prescription
id, so in order); the same fact re-published under another event id adds nothing.
"""

from __future__ import annotations

from pacte_common.consumer import Subscription
from pacte_common.contracts import orientation as o
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.outcomes import PrescriptionStep, PrescriptionView

EVENTS: tuple[type[o.PrescriptionEvent], ...] = (
    o.PrescriptionSubmitted,
    o.PositioningScheduled,
    o.PrescriptionAdmitted,
    o.PrescriptionRefused,
    o.PrescriptionWaitlisted,
    o.PrescriptionWithdrawn,
    o.PrescriptionExpired,
    o.PrescriptionReoriented,
    o.PrescriptionEntered,
    o.AdmissionCancelled,
)


def step_details(event: o.PrescriptionEvent) -> tuple[str | None, str | None]:
    """The reason code and a short detail of a step (never free text about the person)."""
    match event:
        case o.PrescriptionRefused():
            return event.reason_code, None
        case o.PrescriptionWithdrawn():
            return None, None
        case o.PositioningScheduled():
            return event.positioning_kind, event.positioning_date.isoformat()
        case o.PrescriptionReoriented():
            return None, f"new prescription {event.new_prescription_id}"
        case o.PrescriptionEntered():
            return None, f"training file {event.dossier_id}"
        case _:
            return None, None


async def on_prescription_event(runtime: Runtime | None, db: AsyncSession, envelope: Envelope) -> None:
    event: o.PrescriptionEvent = envelope.data  # type: ignore[assignment]
    view = await db.get(PrescriptionView, event.prescription_id)
    if view is None:
        view = PrescriptionView(
            prescription_id=event.prescription_id,
            person_id=event.person_id,
            session_id=event.session_id,
            prescriber_kind=event.prescriber_kind,
            prescriber_code=event.prescriber_code,
            organisation_siret=event.organisation_siret,
            status=event.status,
            previous_prescription_id=getattr(event, "previous_prescription_id", None),
            submitted_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
        db.add(view)
        await db.flush()
    elif event.occurred_at >= view.updated_at:
        view.status, view.updated_at = event.status, event.occurred_at
    if isinstance(event, o.PrescriptionSubmitted):
        view.submitted_at = min(view.submitted_at, event.occurred_at)
        view.previous_prescription_id = event.previous_prescription_id
    known = await db.execute(
        select(PrescriptionStep.id).where(
            PrescriptionStep.prescription_id == event.prescription_id,
            PrescriptionStep.status == event.status,
            PrescriptionStep.occurred_at == event.occurred_at,
        )
    )
    if known.first() is None:
        reason_code, detail = step_details(event)
        db.add(PrescriptionStep(
            prescription_id=event.prescription_id, status=event.status, occurred_at=event.occurred_at,
            reason_code=reason_code, detail=detail,
        ))
        await db.flush()


def trajectory_subscription(name: str = "trajectory") -> Subscription:
    return Subscription(name=name, handlers={cls: on_prescription_event for cls in EVENTS})
