"""Events published by the sessions service: the catalogue, the trainee's file, attendance.

Every trainee event carries the whole file snapshot (`DossierSnapshot`): consumers
(orientation, remuneration, AGORA gateway) never call sessions back to complete it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pacte_common.contracts.people import PersonProfile
from pacte_common.events import IntegrationEvent, Topics, register

# ---------------------------------------------------------------- catalogue


class Pillar(StrEnum):
    PREPA = "prepa"
    VISA = "visa"
    ACCES = "acces"
    OTHER = "other"  # Parcours TPME, dispositifs intégrés…


class AgoraCategory(StrEnum):
    """What the AGORA perimeter needs to know of a programme (docs/rules.md §6.3)."""

    STANDARD = "standard"
    HEALTH_SOCIAL = "health_social"  # sanitaire et social
    PSAD = "psad"  # plateformes de décrochage scolaire
    PRISONERS = "prisoners"
    CRP = "crp"  # disabled trainees in rehabilitation centres
    INDIVIDUAL_AID = "individual_aid"
    REGIONAL_VAE = "regional_vae"
    AID_OUTSIDE_IS = "aid_outside_is"


class RecruitmentState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FULL = "full"


class ProgrammeInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    pillar: Pillar
    funder: str = "region"
    remuneration_approved: bool = False
    tension_sector: bool = False
    agora_category: AgoraCategory = AgoraCategory.STANDARD
    delegated_to_france_travail: bool = False


class TrainingPlace(BaseModel):
    """Where the training takes place (LHEO `lieu-de-formation`), as the offer's file gives it."""

    model_config = ConfigDict(frozen=True)

    postcode: str | None = None
    insee: str | None = Field(None, description="The commune's INSEE code (LHEO code-INSEE-commune)")
    city: str | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class OfferDetails(BaseModel):
    """What the public search of the offer shows of an action besides its catalogue fields
    (docs/public-search.md): the LHEO texts, the training place and the formation's codes."""

    model_config = ConfigDict(frozen=True)

    objectives: str | None = Field(None, description="LHEO objectif-formation")
    expected_results: str | None = Field(None, description="LHEO resultats-attendus")
    content: str | None = Field(None, description="LHEO contenu-formation")
    organisation_name: str | None = Field(None, description="The responsible organisation's name, from the offer's file")
    place: TrainingPlace | None = None
    formacodes: list[str] = Field(default_factory=list, description="The formation's FORMACODE codes besides the action's `formacode`")
    nsf_codes: list[str] = Field(default_factory=list)
    rome_codes: list[str] = Field(default_factory=list)


class SessionSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: UUID
    action_id: UUID
    programme: ProgrammeInfo
    organisation_siret: str = Field(description="The responsible organisation (LHEO organisme-formation-responsable)")
    delivering_siret: str | None = Field(
        None, description="The organisation that delivers the training (LHEO organisme-formateur), the one trainees and prescribers see; None: the responsible one",
    )
    delivering_name: str | None = None
    action_title: str
    rncp_code: str | None = None
    formacode: str | None = None
    certifying: bool = False
    hours_in_centre: Decimal
    hours_in_company: Decimal = Decimal("0")
    weekly_hours: Decimal | None = Field(None, description="Hours a week; below 35 is part time")
    hourly_price: Decimal
    departement: str
    territory_code: str | None = None
    start_date: date
    end_date: date
    places: int
    places_taken: int = 0
    places_unknown: bool = Field(False, description="Imported without places (0): closed for admission until the Region sets them")
    permanent_entries: bool = False
    recruitment_state: RecruitmentState
    information_meetings: list[date] = Field(default_factory=list)
    skill_blocks: list[str] = Field(default_factory=list, description="The RNCP skill blocks the action prepares (its certification's blocks)")
    action_lheo_id: str | None = Field(None, description="The action's LHEO/Carif number, when it came from an LHEO feed (ANOTEA reviews name it)")
    action_version: int | None = Field(
        None, ge=1, description="The action row's version (the session's version does not move when its action "
        "changes): a consumer keeps the action's fields only from a snapshot at least as new as the one it holds")
    session_lheo_id: str | None = Field(None, description="The session's LHEO/Carif number, when it came from an LHEO feed")
    session_territory_code: str | None = Field(
        None, description="The employment-training territory of the session's training place (docs/territories.md); "
        "territory_code is the action's own")
    distance_learning: bool | None = Field(None, description="The action is (partly) followed at a distance (LHEO modalites-enseignement 1 or 2)")
    offer: OfferDetails | None = Field(None, description="What the public search shows of the action (docs/public-search.md); in the catalogue's events only (None in a trainee event's snapshot, and from older publishers)")
    version: int | None = Field(
        None,
        description="The session row's version, taken under its lock: a consumer applies a snapshot only if "
        "newer than the one it holds, so late or replayed events never roll it back (None: unversioned)",
    )


class CatalogueEvent(IntegrationEvent):
    topic: ClassVar[str] = Topics.CATALOGUE
    session: SessionSnapshot


@register
class SessionPublished(CatalogueEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.session.published.v1"


@register
class SessionUpdated(CatalogueEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.session.updated.v1"


@register
class SessionClosed(CatalogueEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.session.closed.v1"


@register
class SessionCancelled(CatalogueEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.session.cancelled.v1"


@register
class SatisfactionReviewRecorded(IntegrationEvent):
    """A trainee's review from ANOTEA, imported by the Region (docs/satisfaction.md): created or
    changed by an import. Marks 1–5, and the comment only as ANOTEA published it after its
    moderation (the public training page shows it, docs/public-search.md); no reviewer."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.satisfaction.review-recorded.v1"
    topic: ClassVar[str] = Topics.CATALOGUE
    review_id: str = Field(max_length=64)
    action_id: UUID
    session_id: UUID | None = None
    organisation_siret: str = Field(pattern="^[0-9]{14}$")
    review_date: date
    overall: Decimal
    accueil: Decimal
    contenu: Decimal
    equipe_formateurs: Decimal
    moyens_materiels: Decimal
    accompagnement: Decimal
    published_comment: str | None = Field(
        None, max_length=4100, description="ANOTEA's published comment (title and text, after its moderation); None: none")


# ---------------------------------------------------------------- the trainee's file


class DossierStatus(StrEnum):
    ENROLLED = "enrolled"
    IN_TRAINING = "in_training"
    INTERRUPTED = "interrupted"
    EXITED = "exited"
    CANCELLED = "cancelled"


class InterruptionReason(StrEnum):
    EMPLOYMENT = "employment"
    HEALTH = "health"
    PERSONAL = "personal"
    OTHER = "other"


class ExitKind(StrEnum):
    COMPLETED = "completed"
    DROPOUT = "dropout"


class DropoutReason(StrEnum):
    EMPLOYMENT = "employment"  # abandon pour emploi, counted apart
    PERSONAL = "personal"
    HEALTH = "health"
    EXCLUSION = "exclusion"
    OTHER = "other"


class CertificationResult(StrEnum):
    OBTAINED = "obtained"
    PARTIAL = "partial"
    FAILED = "failed"
    NOT_ASSESSED = "not_assessed"


class DossierSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    dossier_id: UUID
    prescription_id: UUID | None = None
    prescriber_code: str | None = None
    person_id: UUID
    profile: PersonProfile
    identity_encrypted: str | None = Field(None, description="PersonIdentity sealed with the suite's key (NIR inside)")
    has_nir: bool = False
    session: SessionSnapshot
    status: DossierStatus
    entry_date: date | None = None
    exit_date: date | None = None
    version: int = 1


class TraineeEvent(IntegrationEvent):
    topic: ClassVar[str] = Topics.TRAINEES
    dossier: DossierSnapshot
    occurred_at: AwareDatetime
    actor: str


@register
class TraineeEnrolled(TraineeEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.enrolled.v1"


@register
class TraineeEntered(TraineeEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.entered.v1"
    entry_date: date
    declared_late: bool = False


@register
class TraineeInterrupted(TraineeEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.interrupted.v1"
    interruption_id: UUID
    start_date: date
    reason: InterruptionReason
    expected_return_date: date | None = None
    declared_late: bool = False


@register
class TraineeResumed(TraineeEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.resumed.v1"
    interruption_id: UUID
    resumption_date: date


@register
class TraineeExited(TraineeEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.exited.v1"
    exit_date: date
    exit_kind: ExitKind
    dropout_reason: DropoutReason | None = None
    certification_result: CertificationResult | None = None
    skill_blocks_obtained: list[str] = Field(default_factory=list)
    realised_hours: Decimal
    hourly_price: Decimal
    cost: Decimal = Field(description="Solde: realised hours × hourly price")
    declared_late: bool = False


@register
class TraineeCancelled(TraineeEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.cancelled.v1"
    reason: str | None = None


@register
class TraineeIdentityUpdated(TraineeEvent):
    """The identity (typically the NIR, added after creation) changed: AGORA adds the NIR."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.identity-updated.v1"


# ---------------------------------------------------------------- attendance


class AttendanceEvent(IntegrationEvent):
    topic: ClassVar[str] = Topics.ATTENDANCE
    dossier_id: UUID
    person_id: UUID
    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    version: int = Field(ge=1, description="1 for the first statement, +1 for each correction")
    planned_hours: Decimal
    attended_hours: Decimal
    justified_absence_hours: Decimal
    unjustified_absence_hours: Decimal
    in_company_hours: Decimal = Decimal("0")
    recorded_at: AwareDatetime
    source: str = Field("manual", pattern="^(manual|sheets)$",
                        description="How the statement came: typed by the organisation (manual) or built from the signed attendance sheets (sheets)")


@register
class AttendanceRecorded(AttendanceEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.attendance.recorded.v1"


@register
class AttendanceCorrected(AttendanceEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.attendance.corrected.v1"


@register
class AttendanceVoided(IntegrationEvent):
    """A month's statement no longer counts: an exit or a cancellation declared later leaves
    the month outside the training. The statement stays in the history; nothing is paid or
    counted for it any more."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.attendance.voided.v1"
    topic: ClassVar[str] = Topics.ATTENDANCE
    dossier_id: UUID
    person_id: UUID
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    version: int = Field(ge=1, description="The version of the month's statement that is voided (its latest)")
    reason: str = Field(max_length=200, description="e.g. 'exit on 2025-02-20 declared on 2025-04-03'")
    voided_at: AwareDatetime
