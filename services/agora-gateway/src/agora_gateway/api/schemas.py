"""Response bodies of the gateway's HTTP API: plain models, built by api/presenters.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class TransitionView(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    reason: str | None


class FlowView(BaseModel):
    flow_id: UUID
    dossier_id: UUID
    sequence: int
    operation: str
    operation_label: str
    status: str
    status_label: str
    origin: str
    revision: int
    idempotency_key: str
    data: dict[str, Any] = Field(description="The operation's own data (dates, reason, cost); never the NIR")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    rejection_code: str | None
    rejection_message: str | None
    agora_answer: dict[str, Any] | None
    waiting_reason: str | None = None
    allowed_actions: list[str]
    created_at: datetime
    first_sent_at: datetime | None
    answered_at: datetime | None
    trace_id: str | None = Field(None, description="The file's journey trace id (W3C, 32 hex), carried by every call to AGORA about it")
    transitions: list[TransitionView] | None = None


class PerimeterView(BaseModel):
    status: str
    label: str
    reason_code: str | None
    reason: str | None


class AgoraView(BaseModel):
    file_id: str | None = Field(description="AGORA's file number, once created")
    state: str = Field(description="State at AGORA, as acknowledged")
    state_label: str
    told_state: str = Field(description="State AGORA will hold once every queued flow is acknowledged")
    in_sync: bool = Field(description="Every flow acknowledged (or nothing to send)")


class DossierView(BaseModel):
    dossier_id: UUID
    origin: str
    perimeter: PerimeterView
    programme_code: str | None
    agora_category: str | None
    has_nir: bool
    waiting_for_nir: bool
    agora: AgoraView
    counts: dict[str, int]
    flows: list[FlowView]
    trace_id: str | None = Field(None, description="The journey trace id (W3C, 32 hex) of the file, null if none is known")
    updated_at: datetime


class BackfillJobView(BaseModel):
    job_id: UUID
    status: str
    filename: str
    size_bytes: int
    bytes_processed: int
    progress: float = Field(description="Share of the file read, 0 to 1")
    lines_read: int
    pending_batch: int | None
    held_by: str | None = Field(None, description="The instance id of the gateway instance running the job (its lease), while it runs")
    report: dict[str, Any]
    error: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rejected_lines_url: str


# ---------------------------------------------------------------- France Travail


class FtFlowView(BaseModel):
    """One France Travail certificate of a file; the person's identifier only masked."""

    flow_id: UUID
    dossier_id: UUID
    sequence: int
    operation: str
    operation_label: str
    status: str
    status_label: str
    revision: int
    idempotency_key: str
    identifier_masked: str | None
    data: dict[str, Any] = Field(description="The certificate's own data (dates, hours, reason); never the identifier")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    rejection_code: str | None = Field(None, description="France Travail's code (or the gateway's own check)")
    rejection_message: str | None = Field(
        None, description="France Travail's message, any NIR, IBAN or France Travail identifier it echoes masked")
    answer: dict[str, Any] | None = Field(
        None, description="France Travail's answer: its certificate_id, kind, status and code only")
    waiting_reason: str | None = Field(None, description="waiting_for_france_travail_id: the person has no identifier yet")
    allowed_actions: list[str]
    created_at: datetime
    first_sent_at: datetime | None
    answered_at: datetime | None
    transitions: list[TransitionView] | None = None


class FtFileView(BaseModel):
    dossier_id: UUID
    identifier_masked: str | None
    waiting_for_identifier: bool
    flows: list[FtFlowView]


class DelegatedFlowLine(BaseModel):
    """One AGORA operation of a delegated file: when it was due, and the France Travail
    certificate that carries it (no_certificate: none does; missing: not asked yet)."""

    operation: str
    operation_label: str
    due_on: date = Field(description="When AGORA should have received it (the day it was recorded as delegated)")
    carried_by: str | None
    france_travail_status: str
    acknowledged_at: datetime | None


class DelegatedFileView(BaseModel):
    dossier_id: UUID
    programme_code: str | None
    reconciled: bool = Field(description="Every operation carried by an acknowledged certificate (or by none)")
    lines: list[DelegatedFlowLine]
