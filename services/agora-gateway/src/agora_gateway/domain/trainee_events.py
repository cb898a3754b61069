"""What each AGORA operation carries, read from the trainee event that planned it. Pure."""

from __future__ import annotations

from typing import Any

from pacte_common.contracts.sessions import (
    TraineeEvent,
    TraineeExited,
    TraineeInterrupted,
    TraineeResumed,
)

from agora_gateway.domain.agora_file import Operation


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
