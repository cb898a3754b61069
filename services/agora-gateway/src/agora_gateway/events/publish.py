"""What the gateway publishes on pacte.agora.flows.v1 (key: dossier id), via the outbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.db.models import Flow
from agora_gateway.domain.flows import idempotency_key
from pacte_common.contracts.agora import AgoraFlowAcknowledged, AgoraFlowRejected, AgoraFlowSent
from pacte_common.db import utcnow
from pacte_common.service import Runtime


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


async def publish_sent(runtime: Runtime, session: AsyncSession, flow: Flow) -> None:
    await runtime.outbox.publish(session, AgoraFlowSent(**_common(flow)), key=str(flow.dossier_id))


async def publish_acknowledged(runtime: Runtime, session: AsyncSession, flow: Flow, agora_file_id: str | None, state: str | None) -> None:
    event = AgoraFlowAcknowledged(**_common(flow), agora_file_id=agora_file_id, agora_file_state=state)
    await runtime.outbox.publish(session, event, key=str(flow.dossier_id))


async def publish_rejected(runtime: Runtime, session: AsyncSession, flow: Flow, code: str, message: str) -> None:
    event = AgoraFlowRejected(**_common(flow), code=code, message=message)
    await runtime.outbox.publish(session, event, key=str(flow.dossier_id))
