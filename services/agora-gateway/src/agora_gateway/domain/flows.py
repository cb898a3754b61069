"""A flow: one AGORA operation for one file, and its life in the gateway's queue."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class FlowStatus(StrEnum):
    PENDING = "pending"  # queued: waits for its turn, its NIR, or its next attempt
    SENT = "sent"  # in flight: AGORA has not answered yet
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"  # AGORA (or the gateway's own checks) refused it; an operator resends
    EXCLUDED = "excluded"  # out of perimeter: recorded, never sent
    DELEGATED = "delegated"  # programme delegated to France Travail: recorded, never sent


FLOW_STATUS_LABELS = {
    FlowStatus.PENDING: "En attente d'envoi",
    FlowStatus.SENT: "Envoyé, en attente de réponse",
    FlowStatus.ACKNOWLEDGED: "Accusé de réception AGORA",
    FlowStatus.REJECTED: "Rejeté par AGORA",
    FlowStatus.EXCLUDED: "Hors périmètre, non transmis",
    FlowStatus.DELEGATED: "Délégué à France Travail, non transmis",
}


class FlowAction(StrEnum):
    CLAIM = "claim"
    ACKNOWLEDGE = "acknowledge"
    REJECT = "reject"
    REQUEUE = "requeue"  # AGORA unavailable (5xx, timeout): try again later
    RETRY = "retry"  # an operator resends a rejected flow after fixing the data


@dataclass(frozen=True)
class FlowTransition:
    action: FlowAction
    sources: tuple[FlowStatus, ...]
    target: FlowStatus


FLOW_TRANSITIONS = {
    t.action: t
    for t in (
        # a SENT flow whose claim expired (its process died) is claimed again
        FlowTransition(FlowAction.CLAIM, (FlowStatus.PENDING, FlowStatus.SENT), FlowStatus.SENT),
        FlowTransition(FlowAction.ACKNOWLEDGE, (FlowStatus.SENT,), FlowStatus.ACKNOWLEDGED),
        FlowTransition(FlowAction.REJECT, (FlowStatus.SENT, FlowStatus.PENDING), FlowStatus.REJECTED),
        FlowTransition(FlowAction.REQUEUE, (FlowStatus.SENT,), FlowStatus.PENDING),
        FlowTransition(FlowAction.RETRY, (FlowStatus.REJECTED,), FlowStatus.PENDING),
    )
}

# Statuses after which the next flow of the file may go.
DONE = (FlowStatus.ACKNOWLEDGED, FlowStatus.EXCLUDED, FlowStatus.DELEGATED)


def flow_transition(status: FlowStatus, action: FlowAction) -> FlowStatus:
    transition = FLOW_TRANSITIONS[action]
    if status not in transition.sources:
        raise ValueError(f"'{action}' is not allowed on a flow that is '{status}'")
    return transition.target


def allowed_flow_actions(status: FlowStatus) -> list[str]:
    return [a.value for a, t in FLOW_TRANSITIONS.items() if status in t.sources]


def idempotency_key(dossier_id: UUID, sequence: int, operation: str, revision: int) -> str:
    """Same file, operation and version → same key: AGORA answers a resend with its first answer."""
    return f"pacte-{dossier_id}-{sequence}-{operation}-r{revision}"


def requeue_delay(failed_claims: int, initial_s: float, max_s: float) -> float:
    """Exponential: initial, ×2 per claim that ended without an answer, capped."""
    return min(max_s, initial_s * 2 ** max(0, failed_claims - 1))


def is_transient(status_code: int) -> bool:
    """5xx, timeouts and throttling are AGORA being unavailable; other 4xx are rejections."""
    return status_code >= 500 or status_code in (401, 403, 408, 425, 429)
