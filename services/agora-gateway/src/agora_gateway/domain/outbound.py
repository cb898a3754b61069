"""The outbound engine's pure rules, for every partner (AGORA, France Travail): a flow's life
in a partner's queue, the requeue delay, which HTTP answers mean "partner unavailable".

A flow is one operation for one training file, sent in the file's order and exactly once:
only the file's head flow is due, a claim takes it with a lease, an unavailable partner puts
it back in the queue (doubling delay), a refusal stops the file until an operator resends.
"""

from __future__ import annotations

from enum import StrEnum

from pacte_common.state_machine import StateMachine, table


class FlowStatus(StrEnum):
    PENDING = "pending"  # queued: waits for its turn, its identifier, or its next attempt
    SENT = "sent"  # in flight: the partner has not answered yet
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"  # the partner (or the gateway's own checks) refused it; an operator resends
    EXCLUDED = "excluded"  # out of perimeter: recorded, never sent
    DELEGATED = "delegated"  # programme delegated to France Travail: recorded, never sent


class FlowAction(StrEnum):
    CLAIM = "claim"
    ACKNOWLEDGE = "acknowledge"
    REJECT = "reject"
    REQUEUE = "requeue"  # partner unavailable (5xx, timeout): try again later
    RETRY = "retry"  # an operator resends a rejected flow after fixing the data


# Who takes a move: the gateway itself (its queue), or a Region operator (the resend).
SYSTEM_ROLE = "system"
OPERATOR_ROLE = "operator"


def flow_machine(name: str) -> StateMachine[FlowStatus, FlowAction]:
    """A partner's flow machine (docs/rules.md §6.5): (from, action) -> to, and who takes it."""
    return StateMachine(
        name,
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
# Statuses of a flow still to be settled (the head of a file is the first of them).
ACTIVE = (FlowStatus.PENDING.value, FlowStatus.SENT.value, FlowStatus.REJECTED.value)


def requeue_delay(failed_claims: int, initial_s: float, max_s: float) -> float:
    """Exponential: initial, ×2 per claim that ended without an answer, capped."""
    return min(max_s, initial_s * 2 ** max(0, failed_claims - 1))


def is_transient(status_code: int) -> bool:
    """5xx, timeouts and throttling are the partner being unavailable; other 4xx are rejections."""
    return status_code >= 500 or status_code in (401, 403, 408, 425, 429)
