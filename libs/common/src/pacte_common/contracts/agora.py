"""Events published by the AGORA gateway on pacte.agora.flows.v1 (key: dossier id).

One event per step of a flow (one AGORA operation for one training file): sent (first
attempt of a revision), acknowledged, rejected. A back-filled file (operation `bulk_load`,
origin `backfill`) publishes no `sent`; its rejection is a `flow-rejected` of its own, and
its acknowledgement goes with the other files of its bulk call in one
`bulk-batch-acknowledged` event (key: the back-fill job id, not a file's). A flow recorded as
excluded or delegated by the perimeter never leaves the gateway and publishes nothing.
No NIR, no names: only the dossier id, the operation and AGORA's answer.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from pacte_common.events import IntegrationEvent, Topics, register


class AgoraFlowEvent(IntegrationEvent):
    topic: ClassVar[str] = Topics.AGORA_FLOWS
    flow_id: UUID
    dossier_id: UUID
    operation: str = Field(
        description="create, enter, interrupt, resume, exit, settle, cancel, add_nir, or bulk_load (back-fill)"
    )
    sequence: int = Field(description="Position of the operation in the file's ordered flow (1, 2, …)")
    revision: int = Field(1, description="1, then +1 each time an operator resends a rejected flow")
    idempotency_key: str
    origin: str = Field("live", description="live (trainee events) or backfill (reprise d'antériorité)")
    occurred_at: AwareDatetime


@register
class AgoraFlowSent(AgoraFlowEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.agora.flow-sent.v1"


@register
class AgoraFlowAcknowledged(AgoraFlowEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.agora.flow-acknowledged.v1"
    agora_file_id: str | None = None
    agora_file_state: str | None = Field(None, description="The file's state at AGORA after the operation")


@register
class AgoraFlowRejected(AgoraFlowEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.agora.flow-rejected.v1"
    code: str
    message: str


class AgoraBulkFileAcknowledged(BaseModel):
    """One back-filled file AGORA loaded: its `bulk_load` flow (sequence 1, revision 1)."""

    flow_id: UUID
    dossier_id: UUID
    agora_file_id: str | None = None
    agora_file_state: str | None = Field(None, description="The file's state at AGORA once loaded")


@register
class AgoraBulkBatchAcknowledged(IntegrationEvent):
    """The files of one back-fill bulk call that AGORA acknowledged, in one event (the files it
    rejected each have a `flow-rejected`). Key: the back-fill job id. A batch of more files than
    the gateway's `BACKFILL_EVENT_MAX_FILES` is told in several events (`part` of `parts`)."""

    topic: ClassVar[str] = Topics.AGORA_FLOWS
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.agora.bulk-batch-acknowledged.v1"
    job_id: UUID
    batch: int = Field(description="The batch's number in its job (1, 2, …)")
    idempotency_key: str = Field(description="The bulk call's key: pacte-backfill-{job_id}-b{batch}")
    operation: str = Field("bulk_load", description="Always bulk_load")
    origin: str = Field("backfill", description="Always backfill")
    part: int = Field(1, description="1 … parts")
    parts: int = Field(1, description="How many events tell this batch's acknowledged files")
    files: list[AgoraBulkFileAcknowledged]
    occurred_at: AwareDatetime
