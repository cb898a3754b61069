"""What orientation publishes on pacte.orientation.prescriptions.v1: one event per transition,
keyed by prescription id (contracts in pacte_common.contracts.orientation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pacte_common.contracts.orientation import (
    AdmissionCancelled,
    PositioningScheduled,
    PrescriptionAdmitted,
    PrescriptionEntered,
    PrescriptionEvent,
    PrescriptionExpired,
    PrescriptionRefused,
    PrescriptionReoriented,
    PrescriptionSubmitted,
    PrescriptionWaitlisted,
    PrescriptionWithdrawn,
)
from pacte_common.contracts.people import PersonProfile
from pacte_common.messaging import Outbox
from pacte_common.tracing import adopt_trace
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import Person, Prescription
from orientation.domain.prescription import Action

EVENT_BY_ACTION: dict[Action | None, type[PrescriptionEvent]] = {
    None: PrescriptionSubmitted,  # creation (a first submission or a reorientation's new prescription)
    Action.SCHEDULE_POSITIONING: PositioningScheduled,
    Action.ADMIT: PrescriptionAdmitted,
    Action.REFUSE: PrescriptionRefused,
    Action.WAITLIST: PrescriptionWaitlisted,
    Action.WITHDRAW: PrescriptionWithdrawn,
    Action.EXPIRE: PrescriptionExpired,
    Action.REORIENT: PrescriptionReoriented,
    Action.ENTER: PrescriptionEntered,
    Action.CANCEL_ADMISSION: AdmissionCancelled,
}


def _specific_fields(action: Action | None, prescription: Prescription, person: Person | None) -> dict[str, Any]:
    match action:
        case None:
            return {"previous_prescription_id": prescription.previous_prescription_id}
        case Action.SCHEDULE_POSITIONING:
            return {"positioning_date": prescription.positioning_date, "positioning_kind": prescription.positioning_kind}
        case Action.ADMIT:
            assert person is not None, "the admitted event carries the person"
            return {
                "profile": PersonProfile.model_validate(prescription.profile),
                "identity_encrypted": person.identity_sealed,
                "has_nir": person.has_nir,
            }
        case Action.REFUSE:
            return {"reason_code": prescription.refusal_reason, "comment": prescription.refusal_comment}
        case Action.WITHDRAW:
            return {"reason": prescription.withdrawal_reason}
        case Action.ENTER:
            return {"dossier_id": prescription.dossier_id}
        case Action.CANCEL_ADMISSION:
            return {"dossier_id": prescription.dossier_id}
        case _:
            return {}


async def publish_transition(
    outbox: Outbox,
    db: AsyncSession,
    prescription: Prescription,
    action: Action | None,
    *,
    actor: str,
    at: datetime,
    person: Person | None = None,
    **extra: Any,
) -> None:
    """Adds the transition's event to the caller's transaction (transactional outbox), in the
    prescription's own trace whichever request, event or job triggered the transition."""
    event_class = EVENT_BY_ACTION[action]
    event = event_class(
        prescription_id=prescription.id,
        session_id=prescription.session_id,
        person_id=prescription.person_id,
        prescriber_kind=prescription.prescriber_kind,
        prescriber_code=prescription.prescriber_code,
        organisation_siret=prescription.organisation_siret,
        status=prescription.status,
        occurred_at=at,
        actor=actor,
        **_specific_fields(action, prescription, person),
        **extra,
    )
    with adopt_trace(prescription.traceparent):
        await outbox.publish(db, event, key=str(prescription.id))
