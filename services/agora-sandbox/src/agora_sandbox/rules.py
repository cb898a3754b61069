"""AGORA's training file as the sandbox holds it: its states, the operations, their legal order.

The sandbox plays AGORA, a separate system: these are AGORA's rules (docs/agora-contract.md),
kept here on their own. The gateway plans against its own copy (agora_gateway.domain.agora_file);
the contract test and the gateway's tests over real HTTP keep the two in step.
"""

from __future__ import annotations

from enum import StrEnum


class FileState(StrEnum):
    NONE = "none"  # AGORA does not know the file yet
    CREATED = "created"
    IN_TRAINING = "in_training"
    INTERRUPTED = "interrupted"
    EXITED = "exited"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class Operation(StrEnum):
    CREATE = "create"
    ENTER = "enter"
    INTERRUPT = "interrupt"
    RESUME = "resume"
    EXIT = "exit"
    SETTLE = "settle"
    CANCEL = "cancel"
    ADD_NIR = "add_nir"
    BULK_LOAD = "bulk_load"  # back-fill: the whole file at once, through the bulk endpoint


_LIVE = (FileState.CREATED, FileState.IN_TRAINING, FileState.INTERRUPTED, FileState.EXITED, FileState.SETTLED)

# operation -> (the states it is legal from, the state after; None: unchanged)
LEGAL_ORDER: dict[Operation, tuple[tuple[FileState, ...], FileState | None]] = {
    Operation.CREATE: ((FileState.NONE,), FileState.CREATED),
    Operation.ENTER: ((FileState.CREATED,), FileState.IN_TRAINING),
    Operation.INTERRUPT: ((FileState.IN_TRAINING,), FileState.INTERRUPTED),
    Operation.RESUME: ((FileState.INTERRUPTED,), FileState.IN_TRAINING),
    Operation.EXIT: ((FileState.IN_TRAINING, FileState.INTERRUPTED), FileState.EXITED),
    Operation.SETTLE: ((FileState.EXITED,), FileState.SETTLED),
    Operation.CANCEL: (_LIVE, FileState.CANCELLED),
    Operation.ADD_NIR: (_LIVE, None),
}


def apply(state: FileState, operation: Operation) -> FileState:
    """The file's state after the operation; ValueError when the order is not legal."""
    sources, target = LEGAL_ORDER[operation]
    if state not in sources:
        raise ValueError(f"'{operation}' is not allowed on a file in state '{state}'")
    return target or state
