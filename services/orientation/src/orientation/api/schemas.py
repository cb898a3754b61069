"""Request and response bodies of the orientation API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pacte_common.contracts.people import MaskedIdentity, PersonProfile
from pacte_common.contracts.sessions import SessionSnapshot
from pacte_common.http import NOT_BLANK, decimal_input, required_when
from pacte_common.validators import Nir
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from orientation.domain.prescription import PositioningKind, PrescriberKind, RefusalReason, Status

Text = Field(None, max_length=5000)

# ---------------------------------------------------------------- sessions read model


class SessionOut(SessionSnapshot):
    """The session as the catalogue last described it, with what a prescriber needs to choose."""

    places_available: int
    cancelled: bool
    open_for_prescription: bool


# ---------------------------------------------------------------- prescriptions: input


class Strict(BaseModel):
    """A request body: an unknown field is refused (422 naming it), as in the other services,
    so a misspelt optional field is not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class IdentityIn(Strict):
    birth_name: str = Field(min_length=1, max_length=100, description="Nom de naissance")
    first_names: str = Field(min_length=1, max_length=200, description="Prénoms")
    usual_name: str | None = Field(None, max_length=100, description="Nom d'usage")
    nir: Nir | None = Field(None, description="NIR (15 characters, key checked); optional")
    france_travail_id: str | None = Field(None, max_length=20, description="Identifiant France Travail")


class ProfileIn(PersonProfile):
    """The person's profile as a request gives it: the daily benefit amount as a decimal the
    schema describes exactly (string or integer, two decimals); events keep PersonProfile
    (and its tolerance of unknown fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unemployment_daily_amount: decimal_input(ge=0, max_digits=8, decimal_places=2) | None = None


class PrescriptionCreate(Strict):
    session_id: UUID
    prescriber_kind: PrescriberKind | None = Field(
        None, description="Derived from the structure code of the token when absent (PE-… → france_travail)"
    )
    identity: IdentityIn
    profile: ProfileIn
    professional_project: str = Field(min_length=1, max_length=5000, description="Projet professionnel validé")
    comment: str | None = Field(None, max_length=5000, description="The prescriber's comment for the organisation")


class PositioningIn(Strict):
    date: date
    kind: PositioningKind
    comment: str | None = Text


class AnswerIn(Strict):
    """Body of /admit and /waitlist (optional)."""

    comment: str | None = Text


class RefuseIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": [
        required_when({"reason_code": {"const": RefusalReason.OTHER.value}}, {"comment": NOT_BLANK}),
    ]})

    reason_code: RefusalReason
    comment: str | None = Field(None, max_length=5000, validate_default=True)

    @field_validator("comment")
    @classmethod
    def comment_required_for_other(cls, comment: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("reason_code") is RefusalReason.OTHER and not (comment and comment.strip()):
            raise ValueError("a comment is required when the reason is 'other'")
        return comment


class WithdrawIn(Strict):
    reason: str | None = Text


class ReorientIn(Strict):
    session_id: UUID
    professional_project: str | None = Field(
        None, min_length=1, max_length=5000, description="Defaults to the previous prescription's"
    )
    comment: str | None = Text


# ---------------------------------------------------------------- prescriptions: output


class PositioningOut(BaseModel):
    date: date
    kind: PositioningKind
    kind_label: str


class RefusalOut(BaseModel):
    reason_code: RefusalReason
    reason_label: str
    comment: str | None = None
    hint: str | None = Field(None, description="What the prescriber may try next")


class ChainLink(BaseModel):
    prescription_id: UUID
    session_id: UUID
    status: Status
    created_at: datetime


class PrescriptionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    status: Status
    status_label: str
    version: int
    session_id: UUID
    organisation_siret: str
    person_id: UUID
    prescriber_kind: PrescriberKind
    prescriber_code: str
    refusal_reason: RefusalReason | None = None
    previous_prescription_id: UUID | None = None
    next_prescription_id: UUID | None = None
    created_at: datetime
    updated_at: datetime


class PrescriptionOut(PrescriptionSummary):
    identity: MaskedIdentity | None = Field(
        None, description="Shown by GET only (creation answers are replayable and kept without it)"
    )
    has_nir: bool
    profile: PersonProfile
    professional_project: str
    comment: str | None = None
    positioning: PositioningOut | None = None
    refusal: RefusalOut | None = None
    withdrawal_reason: str | None = None
    answer_comment: str | None = None
    waitlist_rank: int | None = None
    dossier_id: UUID | None = None
    status_changed_at: datetime
    expires_at: datetime | None = Field(None, description="When it expires if the organisation does not answer")
    trace_id: str | None = Field(
        None, description="W3C trace id (32 hex) of the call that started the journey, carried by all its events"
    )
    chain: list[ChainLink] = Field(description="The person's attempts linked by reorientation, oldest first")
    allowed_actions: list[str] = Field(description="What the caller may do now")


class TransitionOut(BaseModel):
    prescription_id: UUID
    sequence: int
    action: str
    from_status: Status | None
    to_status: Status
    actor: str
    at: datetime
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class HistoryOut(BaseModel):
    prescription_id: UUID
    items: list[TransitionOut] = Field(description="Transitions of the whole chain visible to you, in order")


class CountsOut(BaseModel):
    counts: dict[str, int]
    total: int


# ---------------------------------------------------------------- finding a person (the Region)


class PersonSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last_name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$", description="Birth or usual name, or its beginning; accents and case aside")
    birth_date: date = Field(description="Exact, YYYY-MM-DD")


class FoundPrescriptionOut(BaseModel):
    id: UUID
    status: str
    session_id: UUID
    organisation_siret: str
    created_at: datetime
    href: str = Field(description="The prescription in this service (GET)")


class FoundPersonOut(BaseModel):
    person_id: UUID
    identity: MaskedIdentity
    birth_date: date
    prescriptions: list[FoundPrescriptionOut]


class PersonSearchAnswer(BaseModel):
    items: list[FoundPersonOut]
    truncated: bool = Field(description="More persons matched than shown: type more of the name")


class PersonSearchAudit(BaseModel):
    id: UUID
    at: datetime
    actor: str
    last_name_masked: str = Field(description="The name as typed, masked: its first letter, then a star per other character")
    birth_date_masked: str = Field(description="The birth date as typed, masked: its year only (YYYY-**-**)")
    found: int
