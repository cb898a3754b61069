"""A flow: one AGORA operation for one file, and its life in the gateway's queue."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pacte_common.state_machine import StateMachine, table


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


# Who takes a move: the gateway itself (its queue), or a Region operator (the resend).
SYSTEM_ROLE = "system"
OPERATOR_ROLE = "operator"

# The flow's life in the queue (docs/rules.md §6.5): (from, action) -> to, and who takes it.
FLOW: StateMachine[FlowStatus, FlowAction] = StateMachine(
    "agora flow",
    table(
        [
            # a SENT flow whose claim expired (its process died) is claimed again
            ((FlowStatus.PENDING, FlowStatus.SENT), FlowAction.CLAIM, FlowStatus.SENT),
            (FlowStatus.SENT, FlowAction.ACKNOWLEDGE, FlowStatus.ACKNOWLEDGED),
            # PENDING: the gateway's own checks refused the body before it went
            ((FlowStatus.SENT, FlowStatus.PENDING), FlowAction.REJECT, FlowStatus.REJECTED),
            (FlowStatus.SENT, FlowAction.REQUEUE, FlowStatus.PENDING),
        ],
        roles={SYSTEM_ROLE},
    )
    + table([(FlowStatus.REJECTED, FlowAction.RETRY, FlowStatus.PENDING)], roles={OPERATOR_ROLE}),
)

# Statuses after which the next flow of the file may go.
DONE = (FlowStatus.ACKNOWLEDGED, FlowStatus.EXCLUDED, FlowStatus.DELEGATED)


def allowed_flow_actions(status: str, role: str = OPERATOR_ROLE) -> list[str]:
    """What `role` may do to a flow in this status (an operator: retry a rejected flow)."""
    return [a.value for a in FLOW.allowed_actions(status, role)]


def idempotency_key(dossier_id: UUID, sequence: int, operation: str, revision: int) -> str:
    """Same file, operation and version → same key: AGORA answers a resend with its first answer."""
    return f"pacte-{dossier_id}-{sequence}-{operation}-r{revision}"


def requeue_delay(failed_claims: int, initial_s: float, max_s: float) -> float:
    """Exponential: initial, ×2 per claim that ended without an answer, capped."""
    return min(max_s, initial_s * 2 ** max(0, failed_claims - 1))


def is_transient(status_code: int) -> bool:
    """5xx, timeouts and throttling are AGORA being unavailable; other 4xx are rejections."""
    return status_code >= 500 or status_code in (401, 403, 408, 425, 429)
