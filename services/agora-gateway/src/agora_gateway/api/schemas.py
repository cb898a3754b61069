"""Response bodies of the gateway's HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pacte_common.logs import redact
from pacte_common.tracing import trace_id_of
from pydantic import BaseModel, Field

from agora_gateway.db.models import (
    BackfillJob,
    Dossier,
    Flow,
    FlowTransitionLog,
    FtFile,
    FtFlow,
    FtFlowTransitionLog,
)
from agora_gateway.domain.agora_file import (
    FILE_STATE_LABELS,
    OPERATION_LABELS,
    FileState,
    Operation,
)
from agora_gateway.domain.flows import FLOW_STATUS_LABELS, FlowStatus, allowed_flow_actions
from agora_gateway.domain.france_travail import (
    FT_FLOW,
    FT_FLOW_STATUS_LABELS,
    FT_OPERATION_LABELS,
    WAITING_FOR_IDENTIFIER,
    FtOperation,
    ft_idempotency_key,
    mask_identifiers_in,
    shown_answer,
)
from agora_gateway.domain.outbound import OPERATOR_ROLE
from agora_gateway.domain.perimeter import PERIMETER_LABELS, PerimeterStatus
from agora_gateway.events.publish import key_of


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

    @classmethod
    def of(
        cls,
        flow: Flow,
        *,
        traceparent: str | None = None,
        waiting_reason: str | None = None,
        transitions: list[FlowTransitionLog] | None = None,
    ) -> FlowView:
        """`traceparent`: the file's (`Dossier.traceparent`)."""
        return cls(
            flow_id=flow.id,
            dossier_id=flow.dossier_id,
            sequence=flow.sequence,
            operation=flow.operation,
            operation_label=OPERATION_LABELS[Operation(flow.operation)],
            status=flow.status,
            status_label=FLOW_STATUS_LABELS[FlowStatus(flow.status)],
            origin=flow.origin,
            revision=flow.revision,
            idempotency_key=key_of(flow),
            data=flow.data,
            attempts=flow.attempts,
            next_attempt_at=flow.next_attempt_at if flow.status == FlowStatus.PENDING.value else None,
            last_error=flow.last_error,
            rejection_code=flow.rejection_code,
            rejection_message=flow.rejection_message,
            agora_answer=flow.agora_answer,
            waiting_reason=waiting_reason,
            allowed_actions=allowed_flow_actions(flow.status),
            created_at=flow.created_at,
            first_sent_at=flow.first_sent_at,
            answered_at=flow.answered_at,
            trace_id=trace_id_of(traceparent),
            transitions=[TransitionView.model_validate(t, from_attributes=True) for t in transitions] if transitions is not None else None,
        )


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

    @classmethod
    def of(cls, dossier: Dossier, flows: list[Flow], waiting_for_nir: bool) -> DossierView:
        counts: dict[str, int] = {}
        for flow in flows:
            counts[flow.status] = counts.get(flow.status, 0) + 1
        return cls(
            dossier_id=dossier.id,
            origin=dossier.origin,
            perimeter=PerimeterView(
                status=dossier.perimeter_status,
                label=PERIMETER_LABELS[PerimeterStatus(dossier.perimeter_status)],
                reason_code=dossier.perimeter_reason_code,
                reason=dossier.perimeter_reason,
            ),
            programme_code=dossier.programme_code,
            agora_category=dossier.agora_category,
            has_nir=dossier.has_nir,
            waiting_for_nir=waiting_for_nir,
            agora=AgoraView(
                file_id=dossier.agora_file_id,
                state=dossier.agora_state,
                state_label=FILE_STATE_LABELS[FileState(dossier.agora_state)],
                told_state=dossier.told_state,
                in_sync=all(f.status in ("acknowledged", "excluded", "delegated") for f in flows),
            ),
            counts=counts,
            flows=[
                FlowView.of(
                    f,
                    traceparent=dossier.traceparent,
                    waiting_reason="waiting_for_nir" if waiting_for_nir and f.operation in ("create", "bulk_load") and f.status == "pending" else None,
                )
                for f in flows
            ],
            trace_id=trace_id_of(dossier.traceparent),
            updated_at=dossier.updated_at,
        )


class BackfillJobView(BaseModel):
    job_id: UUID
    status: str
    filename: str
    size_bytes: int
    bytes_processed: int
    progress: float = Field(description="Share of the file read, 0 to 1")
    lines_read: int
    pending_batch: int | None
    report: dict[str, Any]
    error: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rejected_lines_url: str

    @classmethod
    def of(cls, job: BackfillJob) -> BackfillJobView:
        return cls(
            job_id=job.id,
            status=job.status,
            filename=job.filename,
            size_bytes=job.size_bytes,
            bytes_processed=job.byte_offset,
            progress=round(job.byte_offset / job.size_bytes, 4) if job.size_bytes else 1.0,
            lines_read=job.line_no,
            pending_batch=job.pending_batch,
            report=job.report,
            error=job.error,
            created_by=job.created_by,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            rejected_lines_url=f"/backfill/{job.id}/rejections",
        )


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

    @classmethod
    def of(cls, flow: FtFlow, *, identifier_masked: str | None, has_identifier: bool,
           transitions: list[FtFlowTransitionLog] | None = None) -> FtFlowView:
        pending = flow.status == FlowStatus.PENDING.value
        return cls(
            flow_id=flow.id, dossier_id=flow.dossier_id, sequence=flow.sequence, operation=flow.operation,
            operation_label=FT_OPERATION_LABELS[FtOperation(flow.operation)], status=flow.status,
            status_label=FT_FLOW_STATUS_LABELS[FlowStatus(flow.status)], revision=flow.revision,
            idempotency_key=ft_idempotency_key(flow.dossier_id, flow.sequence, flow.operation, flow.revision),
            identifier_masked=identifier_masked, data=flow.data, attempts=flow.attempts,
            next_attempt_at=flow.next_attempt_at if pending else None, last_error=flow.last_error,
            rejection_code=flow.rejection_code, rejection_message=shown_message(flow.rejection_message), answer=shown_answer(flow.answer),
            waiting_reason=WAITING_FOR_IDENTIFIER if pending and not has_identifier else None,
            allowed_actions=[a.value for a in FT_FLOW.allowed_actions(flow.status, OPERATOR_ROLE)],
            created_at=flow.created_at, first_sent_at=flow.first_sent_at, answered_at=flow.answered_at,
            transitions=[TransitionView(at=t.at, actor=t.actor, action=t.action, from_status=t.from_status,
                                        to_status=t.to_status, reason=t.reason) for t in transitions]
            if transitions is not None else None,
        )


def shown_message(message: str | None) -> str | None:
    """A partner's free text as an operator sees it: NIR and IBAN redacted (the logs' redaction),
    France Travail identifiers masked."""
    return mask_identifiers_in(redact(message)) if message else message


class FtFileView(BaseModel):
    dossier_id: UUID
    identifier_masked: str | None
    waiting_for_identifier: bool
    flows: list[FtFlowView]

    @classmethod
    def of(cls, file: FtFile, flows: list[FtFlow]) -> FtFileView:
        views = [FtFlowView.of(f, identifier_masked=file.identifier_masked, has_identifier=file.has_identifier) for f in flows]
        return cls(dossier_id=file.id, identifier_masked=file.identifier_masked,
                   waiting_for_identifier=any(v.waiting_reason for v in views), flows=views)


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
