"""A flow: one AGORA operation for one file; its life in the queue is the outbound engine's
(domain/outbound.py)."""

from __future__ import annotations

from uuid import UUID

from pacte_common.state_machine import StateMachine

from agora_gateway.domain.outbound import (  # noqa: F401  (AGORA's names for the engine's rules)
    DONE,
    OPERATOR_ROLE,
    SYSTEM_ROLE,
    FlowAction,
    FlowStatus,
    flow_machine,
    is_transient,
    requeue_delay,
)

FLOW_STATUS_LABELS = {
    FlowStatus.PENDING: "En attente d'envoi",
    FlowStatus.SENT: "Envoyé, en attente de réponse",
    FlowStatus.ACKNOWLEDGED: "Accusé de réception AGORA",
    FlowStatus.REJECTED: "Rejeté par AGORA",
    FlowStatus.EXCLUDED: "Hors périmètre, non transmis",
    FlowStatus.DELEGATED: "Délégué à France Travail, non transmis",
}


# The flow's life in the queue (docs/rules.md §6.5): the outbound engine's machine.
FLOW: StateMachine[FlowStatus, FlowAction] = flow_machine("agora flow")


def allowed_flow_actions(status: str, role: str = OPERATOR_ROLE) -> list[str]:
    """What `role` may do to a flow in this status (an operator: retry a rejected flow)."""
    return [a.value for a in FLOW.allowed_actions(status, role)]


def idempotency_key(dossier_id: UUID, sequence: int, operation: str, revision: int) -> str:
    """Same file, operation and version → same key: AGORA answers a resend with its first answer."""
    return f"pacte-{dossier_id}-{sequence}-{operation}-r{revision}"
