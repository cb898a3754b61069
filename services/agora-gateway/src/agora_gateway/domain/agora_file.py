"""The training file as AGORA holds it: its states, the operations, their legal order.

The gateway plans which operations a trainee event calls for along this table; AGORA (and
the sandbox standing in for it, with its own copy of the rules) rejects an operation that is
not legal from the file's current state.
"""

from __future__ import annotations

from enum import StrEnum

from pacte_common.state_machine import StateMachine, TransitionRefused, table


class FileState(StrEnum):
    NONE = "none"  # AGORA does not know the file yet
    CREATED = "created"
    IN_TRAINING = "in_training"
    INTERRUPTED = "interrupted"
    EXITED = "exited"
    SETTLED = "settled"
    CANCELLED = "cancelled"


FILE_STATE_LABELS = {
    FileState.NONE: "Inconnu d'AGORA",
    FileState.CREATED: "Dossier créé",
    FileState.IN_TRAINING: "Entré en formation (dossier validé)",
    FileState.INTERRUPTED: "Formation interrompue",
    FileState.EXITED: "Sorti de formation",
    FileState.SETTLED: "Action soldée",
    FileState.CANCELLED: "Dossier annulé",
}


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


OPERATION_LABELS = {
    Operation.CREATE: "Recherche puis création du dossier",
    Operation.ENTER: "Validation du dossier et déclaration d'entrée",
    Operation.INTERRUPT: "Déclaration d'interruption",
    Operation.RESUME: "Déclaration de reprise",
    Operation.EXIT: "Déclaration de sortie",
    Operation.SETTLE: "Solde de l'action et calcul du coût",
    Operation.CANCEL: "Annulation du dossier",
    Operation.ADD_NIR: "Ajout du NIR",
    Operation.BULK_LOAD: "Reprise d'antériorité (chargement en masse)",
}

_LIVE = (FileState.CREATED, FileState.IN_TRAINING, FileState.INTERRUPTED, FileState.EXITED, FileState.SETTLED)


# The legal order of operations on one file (docs/rules.md §6.2), as AGORA enforces it. The state
# is what AGORA holds (`Dossier.agora_state`) or will hold once the queue drains (`told_state`).
AGORA_FILE: StateMachine[FileState, Operation] = StateMachine(
    "AGORA file",
    table(
        [
            (FileState.NONE, Operation.CREATE, FileState.CREATED),
            (FileState.CREATED, Operation.ENTER, FileState.IN_TRAINING),
            (FileState.IN_TRAINING, Operation.INTERRUPT, FileState.INTERRUPTED),
            (FileState.INTERRUPTED, Operation.RESUME, FileState.IN_TRAINING),
            ((FileState.IN_TRAINING, FileState.INTERRUPTED), Operation.EXIT, FileState.EXITED),
            (FileState.EXITED, Operation.SETTLE, FileState.SETTLED),
            (_LIVE, Operation.CANCEL, FileState.CANCELLED),
        ]
        # adding the NIR leaves the state as it is
        + [(state, Operation.ADD_NIR, state) for state in _LIVE]
    ),
    state_attribute="told_state",
)

# Operation -> the states it is legal from.
TRANSITIONS: dict[Operation, frozenset[FileState]] = {
    op: AGORA_FILE.sources_of(op) for op in Operation if AGORA_FILE.sources_of(op)
}


def allowed_operations(state: FileState) -> list[Operation]:
    return AGORA_FILE.allowed_actions(state)


def apply(state: FileState, operation: Operation) -> FileState:
    """The file's state after the operation; ValueError when the order is not legal."""
    try:
        return AGORA_FILE.step(state, operation).target
    except TransitionRefused:
        raise ValueError(f"'{operation}' is not allowed on a file in state '{state}'") from None


# ------------------------------------------------------------------ planning (gateway side)


class TraineeStep(StrEnum):
    """What a trainee event says happened (pacte_common.contracts.sessions)."""

    ENROLLED = "enrolled"
    ENTERED = "entered"
    INTERRUPTED = "interrupted"
    RESUMED = "resumed"
    EXITED = "exited"
    CANCELLED = "cancelled"
    IDENTITY_UPDATED = "identity_updated"


# Where each step takes the file; the plan is the shortest legal path from the state the
# queue will have told AGORA. Steps that would go backwards (a stale or replayed event)
# plan nothing.
_STEP_TARGET = {
    TraineeStep.ENROLLED: FileState.CREATED,
    TraineeStep.ENTERED: FileState.IN_TRAINING,
    TraineeStep.INTERRUPTED: FileState.INTERRUPTED,
    TraineeStep.RESUMED: FileState.IN_TRAINING,
    TraineeStep.EXITED: FileState.SETTLED,
    TraineeStep.CANCELLED: FileState.CANCELLED,
}

_PATHS: dict[tuple[FileState, TraineeStep], tuple[Operation, ...]] = {
    (FileState.NONE, TraineeStep.ENROLLED): (Operation.CREATE,),
    (FileState.NONE, TraineeStep.ENTERED): (Operation.CREATE, Operation.ENTER),
    (FileState.NONE, TraineeStep.INTERRUPTED): (Operation.CREATE, Operation.ENTER, Operation.INTERRUPT),
    (FileState.NONE, TraineeStep.RESUMED): (Operation.CREATE, Operation.ENTER),
    (FileState.NONE, TraineeStep.EXITED): (Operation.CREATE, Operation.ENTER, Operation.EXIT, Operation.SETTLE),
    (FileState.CREATED, TraineeStep.ENTERED): (Operation.ENTER,),
    (FileState.CREATED, TraineeStep.INTERRUPTED): (Operation.ENTER, Operation.INTERRUPT),
    (FileState.CREATED, TraineeStep.RESUMED): (Operation.ENTER,),
    (FileState.CREATED, TraineeStep.EXITED): (Operation.ENTER, Operation.EXIT, Operation.SETTLE),
    (FileState.IN_TRAINING, TraineeStep.INTERRUPTED): (Operation.INTERRUPT,),
    (FileState.IN_TRAINING, TraineeStep.EXITED): (Operation.EXIT, Operation.SETTLE),
    (FileState.INTERRUPTED, TraineeStep.RESUMED): (Operation.RESUME,),
    (FileState.INTERRUPTED, TraineeStep.EXITED): (Operation.EXIT, Operation.SETTLE),
    (FileState.EXITED, TraineeStep.EXITED): (Operation.SETTLE,),
}


def plan(told: FileState, step: TraineeStep, *, nir_known: bool, nir_told: bool) -> list[Operation]:
    """Operations to queue so that AGORA follows the file to where the event says it is.

    `told` is the state AGORA will hold once every queued operation is acknowledged.
    """
    if step is TraineeStep.IDENTITY_UPDATED:
        if told not in (FileState.NONE, FileState.CANCELLED) and nir_known and not nir_told:
            return [Operation.ADD_NIR]
        return []
    if step is TraineeStep.CANCELLED:
        return [Operation.CANCEL] if told in TRANSITIONS[Operation.CANCEL] else []
    return list(_PATHS.get((told, step), ()))


def told_after(told: FileState, operations: list[Operation]) -> FileState:
    for operation in operations:
        told = apply(told, operation)
    return told
