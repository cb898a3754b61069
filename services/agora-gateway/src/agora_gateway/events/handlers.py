"""Consumes the sessions service's trainee events and queues what AGORA must be told.

Each handler runs inside the inbox transaction (a redelivered event changes nothing): it
records the file's latest snapshot, applies the perimeter, and appends the planned
operations to the file's queue. Sending is the dispatcher's job.
"""

from __future__ import annotations

import logging
from typing import Any

from pacte_common.consumer import Subscription
from pacte_common.contracts.people import open_identity
from pacte_common.contracts.sessions import (
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEntered,
    TraineeEvent,
    TraineeExited,
    TraineeIdentityUpdated,
    TraineeInterrupted,
    TraineeResumed,
)
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from pacte_common.tracing import current_traceparent, parse_traceparent
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.db.models import Dossier, Flow
from agora_gateway.db.queries import add_flow, get_dossier
from agora_gateway.domain.agora_file import FileState, Operation, TraineeStep, plan, told_after
from agora_gateway.domain.flows import FlowStatus
from agora_gateway.domain.perimeter import PerimeterStatus, decide_perimeter

log = logging.getLogger(__name__)

STEPS: dict[type[TraineeEvent], TraineeStep] = {
    TraineeEnrolled: TraineeStep.ENROLLED,
    TraineeEntered: TraineeStep.ENTERED,
    TraineeInterrupted: TraineeStep.INTERRUPTED,
    TraineeResumed: TraineeStep.RESUMED,
    TraineeExited: TraineeStep.EXITED,
    TraineeCancelled: TraineeStep.CANCELLED,
    TraineeIdentityUpdated: TraineeStep.IDENTITY_UPDATED,
}

PERIMETER_FLOW_STATUS = {
    PerimeterStatus.IN_PERIMETER: FlowStatus.PENDING,
    PerimeterStatus.EXCLUDED: FlowStatus.EXCLUDED,
    PerimeterStatus.DELEGATED: FlowStatus.DELEGATED,
}


def operation_data(operation: Operation, event: TraineeEvent) -> dict[str, Any]:
    """The operation's own data, from the event (or the snapshot when the event is a later step)."""
    snapshot = event.dossier
    if operation is Operation.ENTER:
        entry = getattr(event, "entry_date", None) or snapshot.entry_date
        return {"entry_date": entry.isoformat() if entry else None}
    if operation is Operation.INTERRUPT and isinstance(event, TraineeInterrupted):
        return {
            "start_date": event.start_date.isoformat(),
            "reason": event.reason.value,
            "expected_return_date": event.expected_return_date.isoformat() if event.expected_return_date else None,
        }
    if operation is Operation.RESUME and isinstance(event, TraineeResumed):
        return {"resumption_date": event.resumption_date.isoformat()}
    if operation is Operation.EXIT and isinstance(event, TraineeExited):
        return {
            "exit_date": event.exit_date.isoformat(),
            "exit_kind": event.exit_kind.value,
            "dropout_reason": event.dropout_reason.value if event.dropout_reason else None,
            "certification_result": event.certification_result.value if event.certification_result else None,
        }
    if operation is Operation.SETTLE and isinstance(event, TraineeExited):
        return {"realised_hours": str(event.realised_hours), "hourly_price": str(event.hourly_price), "cost": str(event.cost)}
    if operation is Operation.CANCEL:
        return {"reason": getattr(event, "reason", None)}
    return {}


def snapshot_json(event: TraineeEvent) -> dict[str, Any]:
    return event.dossier.model_dump(mode="json", exclude={"identity_encrypted"})


async def on_trainee_event(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    event: TraineeEvent = envelope.data  # type: ignore[assignment]
    settings = runtime.settings
    snapshot = event.dossier
    step = STEPS[type(event)]
    programme = snapshot.session.programme
    dossier = await get_dossier(session, snapshot.dossier_id, for_update=True)
    if dossier is None:
        decision = decide_perimeter(programme.agora_category, programme.delegated_to_france_travail, settings.excluded_categories)
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
        session.add(dossier)
    if dossier.traceparent is None:
        # the journey's trace, as the consumer restored it from the event (sessions publishes
        # every trainee event of a file in the file's trace); a file without one (back-filled,
        # or an event without trace) takes it from the next event that carries one
        dossier.traceparent = parse_traceparent(current_traceparent.get())
    if snapshot.version >= dossier.snapshot_version:
        dossier.snapshot = snapshot_json(event)
        dossier.snapshot_version = snapshot.version
        dossier.programme_code = programme.code
        dossier.agora_category = programme.agora_category.value
        dossier.organisation_siret = snapshot.session.organisation_siret
        if snapshot.identity_encrypted:
            dossier.identity_encrypted = snapshot.identity_encrypted
            dossier.has_nir = bool(open_identity(runtime.cipher, snapshot.identity_encrypted).nir)
    dossier.last_event_type = event.event_type

    create_unsent = (
        await session.execute(
            select(Flow.id).where(
                Flow.dossier_id == dossier.id,
                Flow.operation == Operation.CREATE.value,
                Flow.status.in_([FlowStatus.PENDING.value, FlowStatus.REJECTED.value]),
                Flow.request_encrypted.is_(None),
            )
        )
    ).first() is not None
    told = FileState(dossier.told_state)
    operations = plan(told, step, nir_known=dossier.has_nir, nir_told=dossier.nir_told or create_unsent)
    status = PERIMETER_FLOW_STATUS[PerimeterStatus(dossier.perimeter_status)]
    for operation in operations:
        add_flow(
            session,
            dossier,
            operation,
            status=status,
            data=operation_data(operation, event),
            origin="live",
            event_type=event.event_type,
            reason=dossier.perimeter_reason if status is not FlowStatus.PENDING else f"planned from {event.event_type}",
        )
        if operation is Operation.ADD_NIR:
            dossier.nir_told = True
    dossier.told_state = told_after(told, operations).value
    if operations and status is FlowStatus.PENDING:
        wake_dispatcher_after_commit(runtime, session)


def wake_dispatcher_after_commit(runtime: Runtime, session: AsyncSession) -> None:
    wakeup = runtime.extras.get("dispatch_wakeup")
    if wakeup is None or session.info.get("dispatch_wakeup_listener"):
        return
    session.info["dispatch_wakeup_listener"] = True

    def _wake(sync_session) -> None:
        sync_session.info.pop("dispatch_wakeup_listener", None)
        wakeup.set()

    sa_event.listen(session.sync_session, "after_commit", _wake, once=True)


trainee_subscription = Subscription(name="trainees", handlers={cls: on_trainee_event for cls in STEPS})
