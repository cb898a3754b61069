"""Response bodies of insights' typed answers: plain models, built by api/presenters.py (the
indicators and results answer JSON built there too)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class CertificationOut(BaseModel):
    dossier_id: UUID
    programme_code: str
    action_title: str
    rncp_code: str | None
    certification_result: str | None
    skill_blocks_obtained: list[str]
    skill_blocks_offered: list[str]
    exit_date: date | None


class SkillsOut(BaseModel):
    person_id: UUID
    current_prescriber: str | None
    skill_blocks_obtained: list[str]
    certifications: list[CertificationOut]


class StepOut(BaseModel):
    on: date
    kind: str = Field(description="prescription, enrolled, entered, interrupted, resumed, exited, cancelled, outcome")
    at: datetime | None = None
    prescription_id: UUID | None = None
    dossier_id: UUID | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class TrajectoryOut(BaseModel):
    person_id: UUID = Field(description="The pseudonymous person id: the single key of the trajectory")
    prescriptions: list[dict[str, Any]] = Field(description="Each prescription with its steps (answers, reasons)")
    dossiers: list[dict[str, Any]] = Field(description="Each training file: entry, interruptions, exit, certification, skill blocks, outcomes")
    timeline: list[StepOut] = Field(description="Everything above in time order")


class ReadOut(BaseModel):
    person_id: UUID
    reader: str
    read_at: datetime
    items_shown: int


class PurgeOut(BaseModel):
    cutoff: date = Field(description="Outcomes observed before this day, prescriptions untouched since, were deleted")
    outcomes_deleted: int
    prescriptions_deleted: int
    trajectory_reads_deleted: int


# ---------------------------------------------------------------- public (api/public.py)


class PublicMarks(BaseModel):
    reviews: int | None = Field(description="Number of reviews; null below the minimum base")
    below_min_base: bool = Field(description="Some reviews exist, fewer than the minimum base: nothing is shown")
    overall: Decimal | None = None
    accueil: Decimal | None = None
    contenu: Decimal | None = None
    equipe_formateurs: Decimal | None = None
    moyens_materiels: Decimal | None = None
    accompagnement: Decimal | None = None


class PublicReviews(BaseModel):
    """ANOTEA's mean marks (1 to 5) of the training and of its organisation (every review under its SIRET)."""

    training: PublicMarks
    organisation: PublicMarks


class PublicResult(BaseModel):
    """Share in employment (any job) of the respondents 6 months after the exit."""

    horizon_months: int
    population: int | None = Field(description="Trainees exited at least 6 months ago; null below the minimum base")
    respondents: int | None
    response_rate: Decimal | None
    employment_rate: Decimal | None
    below_min_base: bool


class PublicPlace(BaseModel):
    postcode: str | None
    city: str | None
    latitude: float | None
    longitude: float | None


class PublicOrganisation(BaseModel):
    siret: str
    name: str | None


class PublicSession(BaseModel):
    session_id: uuid.UUID
    training_id: uuid.UUID = Field(description="GET /public/trainings/{training_id}")
    title: str
    organisation: PublicOrganisation = Field(description="The organisation that delivers the training")
    start_date: date
    end_date: date
    places_left: int | None = Field(description="null: the places are not known")
    permanent_entries: bool
    distance_learning: bool
    place: PublicPlace
    distance_km: float | None = Field(None, description="From the point searched around")
    formacode: str | None
    next_information_meeting: date | None
    reviews: PublicReviews
    employment_6_months: PublicResult


class PublicTrainingSession(BaseModel):
    session_id: uuid.UUID
    start_date: date
    end_date: date
    places_left: int | None
    open: bool = Field(description="Recruiting: an application may be made")
    next_information_meeting: date | None


class PublicTraining(BaseModel):
    training_id: uuid.UUID
    title: str
    objectives: str | None
    expected_results: str | None
    content: str | None
    organisation: PublicOrganisation
    certifying: bool
    rncp_code: str | None
    codes: dict[str, list[str]]
    hours_in_centre: Decimal
    hours_in_company: Decimal
    distance_learning: bool
    place: PublicPlace
    sessions: list[PublicTrainingSession]
    reviews: PublicReviews
    comments: list[str] = Field(description="The reviews' comments ANOTEA published (moderated), newest first; none below the minimum base")
    employment_6_months: PublicResult
