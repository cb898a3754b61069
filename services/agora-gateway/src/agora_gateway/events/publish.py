"""What the gateway publishes on pacte.agora.flows.v1 (key: dossier id), via the outbox."""

from __future__ import annotations

from pacte_common.bus import topic_name
from pacte_common.contracts.agora import AgoraFlowAcknowledged, AgoraFlowRejected, AgoraFlowSent
from pacte_common.db import utcnow
from pacte_common.events import Envelope, IntegrationEvent
from pacte_common.service import Runtime
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.db.models import Flow
from agora_gateway.domain.flows import idempotency_key


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


def acknowledged_event(flow: Flow, agora_file_id: str | None, state: str | None) -> AgoraFlowAcknowledged:
    return AgoraFlowAcknowledged(**_common(flow), agora_file_id=agora_file_id, agora_file_state=state)


def rejected_event(flow: Flow, code: str, message: str) -> AgoraFlowRejected:
    return AgoraFlowRejected(**_common(flow), code=code, message=message)


async def publish_many(runtime: Runtime, session: AsyncSession, events: list[tuple[IntegrationEvent, str]]) -> None:
    """Adds many events to the caller's transaction in one INSERT (a back-fill batch).

    Same rows as `Outbox.publish` writes one by one; pacte_common has no batch form yet.
    """
    outbox = runtime.outbox
    rows = []
    for event, key in events:
        envelope = Envelope.wrap(event, source=outbox.source, subject=key)
        rows.append(
            dict(
                event_id=envelope.id,
                topic=topic_name(outbox.bus, event.topic),
                message_key=key,
                event_type=envelope.type,
                headers=[[name, value.decode()] for name, value in envelope.headers()],
                body=envelope.body().decode(),
                created_at=utcnow(),
                attempts=0,
            )
        )
    if not rows:
        return
    await session.execute(outbox.tables.outbox.insert(), rows)
    sa_event.listen(session.sync_session, "after_commit", lambda _: outbox.wakeup.set(), once=True)
