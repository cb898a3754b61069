"""Response bodies of insights' typed answers: plain models, built by api/presenters.py (the
indicators and results answer JSON built there too)."""

from __future__ import annotations

from datetime import date, datetime
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
