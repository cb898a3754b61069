"""Turns the gateway's stored files, flows and jobs into response bodies (docs/developing.md,
"Rendering and access rules")."""

from __future__ import annotations

from pacte_common.logs import redact
from pacte_common.tracing import trace_id_of
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.api.schemas import (
    AgoraView,
    BackfillJobView,
    DelegatedFileView,
    DelegatedFlowLine,
    DossierView,
    FlowView,
    FtFileView,
    FtFlowView,
    PerimeterView,
    TransitionView,
)
from agora_gateway.db.france_travail import ft_flow_transitions, get_ft_file
from agora_gateway.db.models import (
    BackfillJob,
    Dossier,
    Flow,
    FlowTransitionLog,
    FtFile,
    FtFlow,
    FtFlowTransitionLog,
)
from agora_gateway.db.queries import NIR_FIRST, WAITING_FOR_NIR, flow_transitions, waiting_reason
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
    NO_CERTIFICATE,
    WAITING_FOR_IDENTIFIER,
    Carried,
    FtOperation,
    ft_idempotency_key,
    mask_identifiers_in,
    reconcile,
    shown_answer,
)
from agora_gateway.domain.outbound import OPERATOR_ROLE
from agora_gateway.domain.perimeter import PERIMETER_LABELS, PerimeterStatus
from agora_gateway.events.publish import key_of

# ---------------------------------------------------------------- AGORA


def flow_out(
    flow: Flow,
    *,
    traceparent: str | None = None,
    waiting_reason: str | None = None,
    transitions: list[FlowTransitionLog] | None = None,
) -> FlowView:
    """`traceparent`: the file's (`Dossier.traceparent`)."""
    return FlowView(
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


async def flow_detail_out(db: AsyncSession, flow: Flow, create_without_nir: bool) -> FlowView:
    """One flow with its transition log and its file's trace."""
    transitions = await flow_transitions(db, flow.id)
    traceparent, has_nir = (
        await db.execute(select(Dossier.traceparent, Dossier.has_nir).where(Dossier.id == flow.dossier_id))
    ).one()
    return flow_out(
        flow, traceparent=traceparent, transitions=transitions, waiting_reason=waiting_reason(flow, has_nir, create_without_nir)
    )


def dossier_out(dossier: Dossier, flows: list[Flow], waiting_for_nir: bool) -> DossierView:
    counts: dict[str, int] = {}
    for flow in flows:
        counts[flow.status] = counts.get(flow.status, 0) + 1
    return DossierView(
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
            flow_out(
                f,
                traceparent=dossier.traceparent,
                waiting_reason=WAITING_FOR_NIR if waiting_for_nir and f.operation in NIR_FIRST and f.status == FlowStatus.PENDING.value else None,
            )
            for f in flows
        ],
        trace_id=trace_id_of(dossier.traceparent),
        updated_at=dossier.updated_at,
    )


def backfill_job_out(job: BackfillJob) -> BackfillJobView:
    return BackfillJobView(
        job_id=job.id,
        status=job.status,
        filename=job.filename,
        size_bytes=job.size_bytes,
        bytes_processed=job.byte_offset,
        progress=round(job.byte_offset / job.size_bytes, 4) if job.size_bytes else 1.0,
        lines_read=job.line_no,
        pending_batch=job.pending_batch,
        held_by=job.held_by,
        report=job.report,
        error=job.error,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        rejected_lines_url=f"/backfill/{job.id}/rejections",
    )


# ---------------------------------------------------------------- France Travail


def ft_flow_out(flow: FtFlow, *, identifier_masked: str | None, has_identifier: bool,
                transitions: list[FtFlowTransitionLog] | None = None) -> FtFlowView:
    pending = flow.status == FlowStatus.PENDING.value
    return FtFlowView(
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


async def ft_flow_detail_out(db: AsyncSession, flow: FtFlow) -> FtFlowView:
    """One certificate with its transition log and its file's masked identifier."""
    file = await get_ft_file(db, flow.dossier_id)
    assert file is not None
    return ft_flow_out(flow, identifier_masked=file.identifier_masked, has_identifier=file.has_identifier,
                       transitions=await ft_flow_transitions(db, flow.id))


def shown_message(message: str | None) -> str | None:
    """A partner's free text as an operator sees it: NIR and IBAN redacted (the logs' redaction),
    France Travail identifiers masked."""
    return mask_identifiers_in(redact(message)) if message else message


def ft_file_out(file: FtFile, flows: list[FtFlow]) -> FtFileView:
    views = [ft_flow_out(f, identifier_masked=file.identifier_masked, has_identifier=file.has_identifier) for f in flows]
    return FtFileView(dossier_id=file.id, identifier_masked=file.identifier_masked,
                      waiting_for_identifier=any(v.waiting_reason for v in views), flows=views)


def delegated_file_out(dossier: Dossier, flows: list[Flow], certificates: list[FtFlow]) -> DelegatedFileView:
    carried = reconcile([f.operation for f in flows],
                        [Carried(c.operation, c.status, c.answered_at) for c in certificates])
    lines = [
        DelegatedFlowLine(operation=flow.operation, operation_label=OPERATION_LABELS[Operation(flow.operation)],
                          due_on=flow.created_at.date(), carried_by=carrier, france_travail_status=status,
                          acknowledged_at=acknowledged)
        for flow, (carrier, status, acknowledged) in zip(flows, carried, strict=True)
    ]
    done = all(line.france_travail_status in (FlowStatus.ACKNOWLEDGED.value, NO_CERTIFICATE) for line in lines)
    return DelegatedFileView(dossier_id=dossier.id, programme_code=dossier.programme_code, reconciled=done, lines=lines)
