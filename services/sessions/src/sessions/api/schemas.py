"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pacte_common.contracts.outcomes import OutcomeSituation, OutcomeSource
from pacte_common.contracts.people import MaskedIdentity, PersonProfile
from pacte_common.contracts.sessions import (
    AgoraCategory,
    CertificationResult,
    DropoutReason,
    ExitKind,
    InterruptionReason,
    Pillar,
    RecruitmentState,
    SessionSnapshot,
)
from pacte_common.http import NOT_NULL, decimal_input, required_when
from pacte_common.validators import Nir, Siret
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from sessions.app.lheo import ImportReport

Hours = decimal_input(ge=0, max_digits=10, decimal_places=2)
Price = decimal_input(ge=0, max_digits=12, decimal_places=2)
# more than 0, at most 60, two decimals: the pattern says all three for strings
WeeklyHours = decimal_input(
    gt=0, le=60, max_digits=4, decimal_places=2,
    pattern=r"^(60(\.00?)?|[1-5][0-9](\.[0-9]{1,2})?|[1-9](\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$",
)
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- catalogue


class ProgrammeIn(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=255)
    pillar: Pillar
    funder: str = Field("region", min_length=1, max_length=64)
    remuneration_approved: StrictBool = False
    tension_sector: StrictBool = False
    agora_category: AgoraCategory = AgoraCategory.STANDARD
    delegated_to_france_travail: StrictBool = False


class ProgrammePatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    pillar: Pillar | None = None
    funder: str | None = Field(None, min_length=1, max_length=64)
    remuneration_approved: StrictBool | None = None
    tension_sector: StrictBool | None = None
    agora_category: AgoraCategory | None = None
    delegated_to_france_travail: StrictBool | None = None


class ProgrammeOut(ProgrammeIn):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    version: int


class ActionFields(Strict):
    title: str = Field(min_length=1, max_length=500)
    rncp_code: str | None = Field(None, max_length=32)
    formacode: str | None = Field(None, max_length=16)
    certifying: StrictBool = False
    hours_in_centre: Hours
    hours_in_company: Hours = Decimal("0")
    weekly_hours: WeeklyHours | None = None
    hourly_price: Price
    part_time: StrictBool = False
    distance_learning: StrictBool = False
    modules: list[str] = Field(default_factory=list, description="Optional modules: refresher, FLE, CléA, driving licence…")
    skill_blocks: list[str] = Field(default_factory=list, description="Blocs de compétences of a split certification")
    departement: str = Field(pattern=r"^[0-9]{2}$")
    territory_code: str | None = Field(None, max_length=32)


class ActionIn(ActionFields):
    programme_code: Code
    organisation_siret: Siret
    lheo_id: str | None = Field(None, max_length=128)


class ActionPatch(Strict):
    programme_code: Code | None = None
    title: str | None = Field(None, min_length=1, max_length=500)
    rncp_code: str | None = None
    formacode: str | None = None
    certifying: StrictBool | None = None
    hours_in_centre: Hours | None = None
    hours_in_company: Hours | None = None
    weekly_hours: WeeklyHours | None = None
    hourly_price: Price | None = None
    part_time: StrictBool | None = None
    distance_learning: StrictBool | None = None
    modules: list[str] | None = None
    skill_blocks: list[str] | None = None
    departement: str | None = Field(None, pattern=r"^[0-9]{2}$")
    territory_code: str | None = None


class ActionOut(ActionFields):
    id: UUID
    lheo_id: str | None
    programme_code: str
    organisation_siret: str = Field(description="The responsible organisation (LHEO organisme-formation-responsable)")
    delivering_siret: str | None = Field(None, description="The organisation that delivers the training (LHEO organisme-formateur); None: the responsible one")
    delivering_name: str | None = None
    version: int


class SessionIn(Strict):
    action_id: UUID
    start_date: date
    end_date: date
    places: int = Field(ge=1, le=10_000)
    permanent_entries: StrictBool = False
    recruitment_state: RecruitmentState = RecruitmentState.OPEN
    information_meetings: list[date] = Field(default_factory=list)
    lheo_id: str | None = Field(None, max_length=128)

    @model_validator(mode="after")
    def _period(self):
        if self.end_date < self.start_date:
            raise ValueError("end_date must be on or after start_date")
        return self


class SessionPatch(Strict):
    start_date: date | None = None
    end_date: date | None = None
    places: int | None = Field(None, ge=1, le=10_000)
    permanent_entries: StrictBool | None = None
    recruitment_state: RecruitmentState | None = None
    information_meetings: list[date] | None = None


class SessionCancelIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class RepublishOut(BaseModel):
    sessions: int = Field(description="Sessions whose snapshot was published again (`session.updated.v1`)")


class SessionOut(SessionSnapshot):
    id: UUID
    lheo_id: str | None = None
    cancelled: bool = False
    cancel_reason: str | None = None
    version: int


# ---------------------------------------------------------------- dossiers


class IdentityIn(Strict):
    birth_name: str = Field(min_length=1, max_length=200)
    first_names: str = Field(min_length=1, max_length=200)
    usual_name: str | None = Field(None, max_length=200)
    nir: Nir | None = None
    france_travail_id: str | None = Field(None, max_length=32)


class ProfileIn(PersonProfile):
    """The person's profile as a request gives it: the daily benefit amount as a decimal the
    schema describes exactly (string or integer, two decimals); events keep PersonProfile."""

    unemployment_daily_amount: decimal_input(ge=0, max_digits=8, decimal_places=2) | None = None


class DossierIn(Strict):
    session_id: UUID
    profile: ProfileIn
    identity: IdentityIn
    person_id: UUID | None = Field(None, description="Known pseudonymous id; else found by NIR or created")


class EntryIn(Strict):
    entry_date: date


class InterruptionIn(Strict):
    start_date: date
    reason: InterruptionReason
    expected_return_date: date | None = None
    comment: str | None = Field(None, max_length=2000)


class ResumptionIn(Strict):
    resumption_date: date


class ExitIn(Strict):
    model_config = ConfigDict(json_schema_extra={"allOf": [
        required_when({"kind": {"const": ExitKind.DROPOUT.value}}, {"dropout_reason": NOT_NULL}),
        required_when({"kind": {"const": ExitKind.COMPLETED.value}}, {"dropout_reason": {"type": "null"}}, required=False),
        required_when({"certification_result": {"const": CertificationResult.PARTIAL.value}},
                      {"skill_blocks_obtained": {"type": "array", "minItems": 1}}),
        required_when({"skill_blocks_obtained": {"type": "array", "minItems": 1}},
                      {"certification_result": {"const": CertificationResult.PARTIAL.value}}),
    ]})

    exit_date: date
    kind: ExitKind
    dropout_reason: DropoutReason | None = None
    comment: str | None = Field(None, max_length=2000)
    certification_result: CertificationResult | None = None
    skill_blocks_obtained: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self):
        if self.kind is ExitKind.DROPOUT and self.dropout_reason is None:
            raise ValueError("dropout_reason is required for a dropout")
        if self.kind is ExitKind.COMPLETED and self.dropout_reason is not None:
            raise ValueError("dropout_reason only goes with a dropout")
        if self.certification_result is CertificationResult.PARTIAL and not self.skill_blocks_obtained:
            raise ValueError("a partial certification lists the skill blocks obtained")
        if self.skill_blocks_obtained and self.certification_result is not CertificationResult.PARTIAL:
            raise ValueError("skill_blocks_obtained only goes with a partial certification")
        return self


class CancelIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class AttendanceIn(Strict):
    planned_hours: Hours
    attended_hours: Hours
    justified_absence_hours: Hours = Decimal("0")
    unjustified_absence_hours: Hours = Decimal("0")
    in_company_hours: Hours = Decimal("0")


class InterruptionOut(BaseModel):
    id: UUID
    start_date: date
    reason: str
    expected_return_date: date | None
    resumption_date: date | None
    declared_late: bool


class TransitionOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    effective_date: date | None
    declared_late: bool
    reason: str | None
    actor: str
    at: datetime


class DossierOut(BaseModel):
    id: UUID
    session_id: UUID
    person_id: UUID
    prescription_id: UUID | None
    prescriber_code: str | None
    programme_code: str
    organisation_siret: str
    status: str
    status_label: str
    allowed_actions: list[str]
    profile: PersonProfile
    has_nir: bool
    identity: MaskedIdentity | None = None
    entry_date: date | None
    entry_declared_late: bool
    exit_date: date | None
    exit_kind: str | None
    dropout_reason: str | None
    certification_result: str | None
    skill_blocks_obtained: list[str]
    realised_hours: Decimal | None
    cost: Decimal | None
    exit_declared_late: bool
    cancel_reason: str | None
    interruptions: list[InterruptionOut]
    transitions: list[TransitionOut] | None = None
    version: int
    trace_id: str | None = Field(
        None, description="W3C trace id (32 hex) of the call or event that opened the file, carried by all its events"
    )


class AttendanceOut(BaseModel):
    dossier_id: UUID
    month: str
    version: int
    planned_hours: Decimal
    attended_hours: Decimal
    justified_absence_hours: Decimal
    unjustified_absence_hours: Decimal
    in_company_hours: Decimal
    realised_hours: Decimal
    recorded_by: str
    recorded_at: datetime
    source: str = Field("manual", description="manual: typed by the organisation (PUT); sheets: built from the signed attendance sheets")
    superseded_at: datetime | None = None
    voided: bool = Field(False, description="The month is outside the training since an exit or a cancellation declared later: kept, counted nowhere")
    voided_at: datetime | None = None
    voided_reason: str | None = Field(None, description="e.g. 'exit on 2025-02-20 declared on 2025-04-03'")
    history: list[AttendanceOut] = Field(default_factory=list, description="Earlier versions, newest first")


# ---------------------------------------------------------------- outcomes (api/outcomes.py)


class LineOut(BaseModel):
    line: int = Field(description="1 for the first line after the CSV header, or the first JSON object")
    status: Literal["created", "updated", "unchanged", "unmatched", "duplicate", "malformed", "inconsistent"]
    dossier_id: UUID | None = None
    horizon_months: int | None = None
    reason: str | None = None


class OutcomesImportOut(BaseModel):
    import_id: UUID | None = Field(description="None on a dry run (nothing written)")
    source: OutcomeSource
    dry_run: bool
    counts: dict[str, int]
    lines: list[LineOut]


class OutcomeOut(BaseModel):
    dossier_id: UUID
    horizon_months: int
    situation: OutcomeSituation
    situation_label: str
    observed_on: date
    source: OutcomeSource
    source_label: str
    job_related_to_training: bool | None
    version: int


class PurgeOut(BaseModel):
    cutoff: date = Field(description="Outcomes observed before this day were deleted")
    outcomes_deleted: int
    trajectory_reads_deleted: int = Field(description="Archived reads of trajectories (served by insights now) past their retention")


class SituationOut(BaseModel):
    code: OutcomeSituation
    label: str
    job: bool
    lasting_job: bool


# ---------------------------------------------------------------- lheo (api/lheo.py)


MappingKind = Literal["financeur", "dispositif"]


class MappingOut(BaseModel):
    kind: MappingKind = Field(description="financeur: LHEO code-financeur; dispositif: extra code-dispositif")
    code: str
    programme_code: str
    updated_by: str
    updated_at: datetime


class PullRunOut(BaseModel):
    id: uuid.UUID
    feed_url: str
    started_at: datetime
    finished_at: datetime | None
    outcome: Literal["imported", "not-modified", "failed"]
    http_status: int | None
    etag: str | None
    last_modified: str | None
    error: str | None = Field(description="Why a failed run changed nothing")
    closed_sessions: int = Field(description="Sessions closed because they left the feed")
    report: ImportReport | None = Field(description="The import's report (imported runs)")


# ---------------------------------------------------------------- territories (api/territories.py)


class PlaceOut(BaseModel):
    commune_insee: str | None
    commune_name: str | None
    postcode: str | None


class TerritoryOut(BaseModel):
    code: str
    name: str
    departement: str | None
    places: list[PlaceOut]


class VersionSummary(BaseModel):
    version: int
    source: str
    note: str | None
    created_by: str
    created_at: datetime
    territories: int


class VersionOut(BaseModel):
    version: int
    source: str
    note: str | None
    created_by: str
    created_at: datetime
    current: bool
    territories: list[TerritoryOut]


# ---------------------------------------------------------------- satisfaction (api/satisfaction.py)


class ReviewReference(BaseModel):
    review_id: str
    session: str | None
    action: str | None
    reason: str


class SatisfactionImportOut(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    unknown: list[ReviewReference]
    rejected: list[ReviewReference]
