"""What the gateway publishes on pacte.agora.flows.v1 (key: dossier id; a back-fill batch's
acknowledgement: the job id), via the outbox.

Every event about a file continues the file's journey trace (`Dossier.traceparent`), whatever
job or request caused it.
"""

from __future__ import annotations

import uuid

from pacte_common.clock import utcnow
from pacte_common.contracts.agora import (
    AgoraBulkBatchAcknowledged,
    AgoraBulkFileAcknowledged,
    AgoraFlowAcknowledged,
    AgoraFlowRejected,
    AgoraFlowSent,
)
from pacte_common.events import IntegrationEvent
from pacte_common.logs import redact
from pacte_common.tracing import adopt_trace
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.db.models import Dossier, Flow
from agora_gateway.domain.flows import idempotency_key
from agora_gateway.runtime import GatewayRuntime


def key_of(flow: Flow) -> str:
    return idempotency_key(flow.dossier_id, flow.sequence, flow.operation, flow.revision)


def _common(flow: Flow) -> dict:
    return dict(
        flow_id=flow.id,
        dossier_id=flow.dossier_id,
        operation=flow.operation,
        sequence=flow.sequence,
        revision=flow.revision,
        idempotency_key=key_of(flow),
        origin=flow.origin,
        occurred_at=utcnow(),
    )


async def _publish(db: AsyncSession, runtime: GatewayRuntime, flow: Flow, event: IntegrationEvent) -> None:
    dossier = await db.get(Dossier, flow.dossier_id)  # usually already in the db
    with adopt_trace(dossier.traceparent if dossier is not None else None):
        await runtime.outbox.publish(db, event, key=str(flow.dossier_id))


async def publish_sent(db: AsyncSession, runtime: GatewayRuntime, flows: list[Flow], dossiers: dict[uuid.UUID, Dossier]) -> None:
    """The first sends of a claim, in one INSERT, each in its file's journey trace."""
    await runtime.outbox.publish_many(db, [(AgoraFlowSent(**_common(flow)), str(flow.dossier_id),
                                            dossiers[flow.dossier_id].traceparent) for flow in flows])


async def publish_acknowledged(db: AsyncSession, runtime: GatewayRuntime, flow: Flow, agora_file_id: str | None, state: str | None) -> None:
    await _publish(db, runtime, flow, acknowledged_event(flow, agora_file_id, state))


async def publish_rejected(db: AsyncSession, runtime: GatewayRuntime, flow: Flow, code: str, message: str) -> None:
    await _publish(db, runtime, flow, rejected_event(flow, code, message))


def acknowledged_event(flow: Flow, agora_file_id: str | None, state: str | None) -> AgoraFlowAcknowledged:
    return AgoraFlowAcknowledged(**_common(flow), agora_file_id=agora_file_id, agora_file_state=state)


def rejected_event(flow: Flow, code: str, message: str) -> AgoraFlowRejected:
    # AGORA's free text may echo what it was sent (NIR, names): never on the bus in clear.
    return AgoraFlowRejected(**_common(flow), code=code, message=redact(message))


def bulk_batch_acknowledged_events(job_id: uuid.UUID, batch: int, idempotency_key: str, files: list[AgoraBulkFileAcknowledged],
                                   max_files: int) -> list[AgoraBulkBatchAcknowledged]:
    """A back-fill batch's acknowledged files: one event, or `parts` of at most `max_files` each
    (a Kafka message stays far below the broker's size limit)."""
    chunks = [files[i:i + max_files] for i in range(0, len(files), max_files)]
    now = utcnow()
    return [
        AgoraBulkBatchAcknowledged(job_id=job_id, batch=batch, idempotency_key=idempotency_key, part=number,
                                   parts=len(chunks), files=chunk, occurred_at=now)
        for number, chunk in enumerate(chunks, start=1)
    ]
