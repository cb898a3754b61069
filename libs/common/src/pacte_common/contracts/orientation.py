"""Events published by the orientation service, one per prescription transition."""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from pacte_common.contracts.people import PersonProfile
from pacte_common.events import IntegrationEvent, Topics, register


class PrescriptionEvent(IntegrationEvent):
    topic: ClassVar[str] = Topics.PRESCRIPTIONS
    prescription_id: UUID
    session_id: UUID
    person_id: UUID
    prescriber_kind: str = Field(description="france_travail, mission_locale, cap_emploi, departement, siae")
    prescriber_code: str
    organisation_siret: str
    status: str
    occurred_at: AwareDatetime
    actor: str


@register
class PrescriptionSubmitted(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.submitted.v1"
    previous_prescription_id: UUID | None = None


@register
class PositioningScheduled(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.positioning-scheduled.v1"
    positioning_date: date
    positioning_kind: str


@register
class PrescriptionAdmitted(PrescriptionEvent):
    """Carries what sessions needs to open the training file with no re-keying."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.admitted.v1"
    profile: PersonProfile
    identity_encrypted: str | None = None
    has_nir: bool = False


@register
class PrescriptionRefused(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.refused.v1"
    reason_code: str
    comment: str | None = None


@register
class PrescriptionWaitlisted(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.waitlisted.v1"


@register
class PrescriptionWithdrawn(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.withdrawn.v1"
    reason: str | None = None


@register
class PrescriptionExpired(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.expired.v1"


@register
class PrescriptionReoriented(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.reoriented.v1"
    new_prescription_id: UUID
    new_session_id: UUID


@register
class PrescriptionEntered(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.entered.v1"
    dossier_id: UUID


@register
class AdmissionCancelled(PrescriptionEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.prescription.admission-cancelled.v1"
    dossier_id: UUID | None = None
