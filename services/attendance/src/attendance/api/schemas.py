"""Request and response bodies of the attendance API."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pacte_common.http import decimal_input
from pydantic import BaseModel, ConfigDict, Field

Period = Literal["morning", "afternoon"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotIn(Strict):
    starts_at: time
    ends_at: time


class ClosureIn(Strict):
    first_day: date
    last_day: date


class PatternIn(Strict):
    first_day: date
    last_day: date
    weekdays: dict[str, list[Period]] = Field(description="e.g. {\"mon\": [\"morning\", \"afternoon\"], \"wed\": [\"morning\"]}")
    morning: SlotIn = SlotIn(starts_at=time(9, 0), ends_at=time(12, 30))
    afternoon: SlotIn = SlotIn(starts_at=time(13, 30), ends_at=time(17, 0))
    closures: list[ClosureIn] = Field(default_factory=list, description="The organisation's closures (both days included)")
    place: str | None = Field(None, max_length=300)
    distance: bool = False
    trainer: str | None = Field(None, max_length=200)


class HalfDayOut(BaseModel):
    id: UUID
    session_id: UUID
    day: date
    period: Period
    starts_at: time
    ends_at: time
    hours: Decimal
    place: str | None
    distance: bool
    trainer: str | None
    cancelled: bool
    origin: str
    version: int


class ScheduleOut(BaseModel):
    created: list[HalfDayOut]
    already_planned: int
    skipped_days: list[date] = Field(default_factory=list, description="Public holidays and closures left out")


class HalfDayPatch(Strict):
    starts_at: time | None = None
    ends_at: time | None = None
    hours: decimal_input(max_digits=4, decimal_places=2, ge=0, le=12) | None = None
    place: str | None = Field(None, max_length=300)
    distance: bool | None = None
    trainer: str | None = Field(None, max_length=200)
    cancelled: bool | None = None
    reason: str | None = Field(None, max_length=500, description="Required once the half-day has signatures")
    version: int | None = None


class ChangeOut(BaseModel):
    at: datetime
    actor: str
    reason: str | None
    before: dict
    after: dict
    signatures_kept: int


class LinkIn(Strict):
    dossier_id: UUID


class LinkOut(BaseModel):
    token: str
    url: str
    expires_at: datetime


class QrOut(BaseModel):
    token: str
    url: str
    valid_until: datetime
    refresh_in_s: int = Field(description="Seconds, by server time, until the next code: when the room's page shows it")


class PassOut(BaseModel):
    token: str


CONSENT = "Je certifie avoir été présent(e) à cette demi-journée de formation."


class LinkSignIn(Strict):
    token: str = Field(max_length=2000)
    half_day_id: UUID
    dossier_id: UUID
    consent: Literal[True] = Field(description="The trainee ticked the statement of presence")
    drawn_sha256: str | None = Field(None, pattern="^[0-9a-f]{64}$")


class QrSignIn(Strict):
    qr_token: str = Field(max_length=2000)
    pass_token: str = Field(max_length=2000)
    consent: Literal[True]


class TrainerSignIn(Strict):
    dossier_id: UUID
    consent: Literal[True]
    drawn_sha256: str | None = Field(None, pattern="^[0-9a-f]{64}$")


class CorrectionIn(Strict):
    dossier_id: UUID
    present: bool
    reason: str = Field(min_length=1, max_length=500, pattern=r"\S", description="Why the record is corrected (required)")


class CountersignIn(Strict):
    trainer: str = Field(min_length=1, max_length=200)


class SignatureOut(BaseModel):
    id: UUID
    half_day_id: UUID
    dossier_id: UUID
    seq: int
    present: bool
    method: str
    signed_at: datetime
    consent: str
    author: str
    reason: str | None
    corrects_id: UUID | None


class CountersignatureOut(BaseModel):
    half_day_id: UUID
    trainer: str
    signed_at: datetime
    author: str


class AbsenceIn(Strict):
    dossier_id: UUID
    absent: bool = True
    justified: bool = False
    reason_code: str | None = Field(None, max_length=32)
    proof_reference: str | None = Field(None, max_length=200)
    late_minutes: int = Field(0, ge=0, le=720)
    early_departure_minutes: int = Field(0, ge=0, le=720)


class AbsenceOut(BaseModel):
    id: UUID
    half_day_id: UUID
    dossier_id: UUID
    absent: bool
    justified: bool
    reason_code: str | None
    proof_reference: str | None
    late_minutes: int
    early_departure_minutes: int
    recorded_by: str
    recorded_at: datetime


class CellOut(BaseModel):
    half_day_id: UUID
    state: Literal["signed", "absent_justified", "absent_unjustified", "unsigned"]
    method: str | None = None
    signed_at: datetime | None = None
    late_minutes: int = 0
    early_departure_minutes: int = 0
    reason_code: str | None = None


class RowOut(BaseModel):
    dossier_id: UUID
    cells: list[CellOut]
    statement: dict


class SheetOut(BaseModel):
    session_id: UUID
    month: str
    half_days: list[HalfDayOut]
    countersigned: list[UUID]
    rows: list[RowOut]
    unsigned: list[dict]
    uncountersigned: list[dict]
    closed_at: datetime | None


class ClosureOut(BaseModel):
    id: UUID
    session_id: UUID
    month: str
    closed_at: datetime
    closed_by: str
    statements: list[dict]


class FlagOut(BaseModel):
    id: UUID
    kind: str
    session_id: UUID
    organisation_siret: str
    half_day_id: UUID
    dossier_ids: list[str]
    detail: str
    at: datetime


class ReasonOut(BaseModel):
    code: str
    label: str


class HalfDayCountsOut(BaseModel):
    half_day_id: UUID
    day: date
    period: Period
    starts_at: time
    ends_at: time
    over: bool = Field(description="The half-day has ended (server time)")
    trainees: int = Field(description="Trainees in training that day")
    signed: int
    absent: int = Field(description="Declared absent, justified or not")
    unsigned: int = Field(description="Neither signed nor declared absent")
    countersigned: bool


class SessionWeekOut(BaseModel):
    session_id: UUID
    organisation_siret: str
    action_title: str
    half_days: list[HalfDayCountsOut] = Field(description="The week's half-days (cancelled ones left out)")
    waiting_months: list[str] = Field(description="Months (YYYY-MM) over, complete and countersigned, not closed yet")


class AttendanceOverviewOut(BaseModel):
    week_start: date
    week_end: date
    today: date
    months_scanned: list[str] = Field(description="The months looked at for validation")
    open_flags: int = Field(description="Fraud flags raised (GET /flags)")
    items: list[SessionWeekOut]
    next_cursor: str | None = None
