"""The training file use cases: follow a trainee event, queue what AGORA must be told.

`on_trainee_event` runs inside the consumer's inbox transaction (a redelivered event changes
nothing), on the batch's files read and locked once (`followed_files`), and does not commit: the consumer commits it with the inbox row. It records the
file's latest snapshot, applies the perimeter, and appends the planned operations to the
file's queue. Sending is the dispatcher's job (app/flows.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pacte_common.clock import utcnow
from pacte_common.contracts.people import open_identity
from pacte_common.contracts.sessions import TraineeEvent
from pacte_common.tracing import current_traceparent, parse_traceparent
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.app.flows import wake_dispatcher_after_commit
from agora_gateway.db.models import Dossier, Flow, FlowTransitionLog
from agora_gateway.db.queries import (
    SYSTEM,
    UNSENT_CREATE,
    dossiers_for_update,
    flow_row,
    with_unsent_create,
)
from agora_gateway.domain.agora_file import FileState, Operation, TraineeStep, plan, told_after
from agora_gateway.domain.flows import FLOW, FlowStatus
from agora_gateway.domain.perimeter import PerimeterStatus, decide_perimeter
from agora_gateway.domain.trainee_events import operation_data
from agora_gateway.runtime import GatewayRuntime

PERIMETER_FLOW_STATUS = {
    PerimeterStatus.IN_PERIMETER: FlowStatus.PENDING,
    PerimeterStatus.EXCLUDED: FlowStatus.EXCLUDED,
    PerimeterStatus.DELEGATED: FlowStatus.DELEGATED,
}


def add_flow(
    db: AsyncSession,
    dossier: Dossier,
    operation: Operation,
    *,
    status: FlowStatus,
    data: dict[str, Any],
    origin: str,
    event_type: str | None = None,
    reason: str | None = None,
    actor: str = SYSTEM,
    **columns: Any,
) -> Flow:
    """Queues one operation at the end of the file's queue, with its first log row."""
    flow = Flow(**flow_row(uuid.uuid4(), dossier.id, dossier.next_sequence, operation, status, data, origin, utcnow(),
                           event_type=event_type, **columns))
    dossier.next_sequence += 1
    db.add(flow)
    FLOW.record_creation(db, flow, log=FlowTransitionLog, actor=actor, action="queue", reason=reason, flow_id=flow.id)
    return flow


@dataclass
class FollowedFiles:
    """A batch's files as the gateway follows them, locked and read once for the whole batch:
    by id (new ones are added as events create them), and those whose `create` is not sent yet."""

    by_id: dict[uuid.UUID, Dossier]
    unsent_create: set[uuid.UUID]


async def followed_files(db: AsyncSession, dossier_ids: set[uuid.UUID]) -> FollowedFiles:
    by_id = await dossiers_for_update(db, dossier_ids)
    return FollowedFiles(by_id, await with_unsent_create(db, {i for i, dossier in by_id.items() if not dossier.nir_told}))


def on_trainee_event(db: AsyncSession, runtime: GatewayRuntime, files: FollowedFiles, event: TraineeEvent,
                     step: TraineeStep) -> None:
    """A trainee event: the file's snapshot kept, its perimeter decided once, its operations queued."""
    dossier = _followed_file(db, runtime, files, event)
    _keep_snapshot(runtime, dossier, event)
    told = FileState(dossier.told_state)
    nir_told = dossier.nir_told or dossier.id in files.unsent_create
    operations = plan(told, step, nir_known=dossier.has_nir, nir_told=nir_told)
    status = PERIMETER_FLOW_STATUS[PerimeterStatus(dossier.perimeter_status)]
    for operation in operations:
        reason = dossier.perimeter_reason if status is not FlowStatus.PENDING else f"planned from {event.event_type}"
        add_flow(db, dossier, operation, status=status, data=operation_data(operation, event), origin="live",
                 event_type=event.event_type, reason=reason)
        if operation is Operation.ADD_NIR:
            dossier.nir_told = True
        if operation is Operation.CREATE and status.value in UNSENT_CREATE:
            files.unsent_create.add(dossier.id)
    dossier.told_state = told_after(told, operations).value
    if operations and status is FlowStatus.PENDING:
        wake_dispatcher_after_commit(db, runtime)


def _followed_file(db: AsyncSession, runtime: GatewayRuntime, files: FollowedFiles, event: TraineeEvent) -> Dossier:
    """The file as the gateway follows it; new: its perimeter decided once and for all."""
    snapshot = event.dossier
    dossier = files.by_id.get(snapshot.dossier_id)
    if dossier is None:
        programme = snapshot.session.programme
        decision = decide_perimeter(
            programme.agora_category, programme.delegated_to_france_travail, runtime.settings.excluded_categories
        )
        dossier = Dossier(
            id=snapshot.dossier_id,
            person_id=snapshot.person_id,
            origin="live",
            perimeter_status=decision.status.value,
            perimeter_reason_code=decision.reason_code,
            perimeter_reason=decision.reason,
            told_state=FileState.NONE.value,
            agora_state=FileState.NONE.value,
            next_sequence=1,
            snapshot={},
            snapshot_version=0,
            has_nir=False,
            nir_told=False,
        )
        db.add(dossier)
        files.by_id[dossier.id] = dossier
    if dossier.traceparent is None:
        # the journey's trace, as the consumer restored it from the event (sessions publishes
        # every trainee event of a file in the file's trace); a file without one (back-filled,
        # or an event without trace) takes it from the next event that carries one
        dossier.traceparent = parse_traceparent(current_traceparent.get())
    return dossier


def _keep_snapshot(runtime: GatewayRuntime, dossier: Dossier, event: TraineeEvent) -> None:
    snapshot = event.dossier
    if snapshot.version >= dossier.snapshot_version:
        programme = snapshot.session.programme
        dossier.snapshot = snapshot.model_dump(mode="json", exclude={"identity_encrypted"})
        dossier.snapshot_version = snapshot.version
        dossier.programme_code = programme.code
        dossier.agora_category = programme.agora_category.value
        dossier.organisation_siret = snapshot.session.organisation_siret
        if snapshot.identity_encrypted:
            dossier.identity_encrypted = snapshot.identity_encrypted
            dossier.has_nir = bool(open_identity(runtime.cipher, snapshot.identity_encrypted).nir)
    dossier.last_event_type = event.event_type


