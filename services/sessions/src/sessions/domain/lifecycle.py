"""The training file's state machine (DOMAIN.md §4), as one declarative table.

    enrolled ──enter──▶ in_training ──interrupt──▶ interrupted
                          ▲   │                       │
                          │   └──────exit──────┐      │
                          └──────resume────────┼──────┘
                                               ▼
                                            exited        (interrupted ──exit──▶ exited too)
    enrolled | in_training | interrupted ──cancel──▶ cancelled

A newcomer reads the whole lifecycle in `TRANSITIONS`; everything else asks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pacte_common.contracts.sessions import DossierStatus


class DossierAction(StrEnum):
    ENTER = "enter"
    INTERRUPT = "interrupt"
    RESUME = "resume"
    EXIT = "exit"
    CANCEL = "cancel"


STATUS_LABELS: dict[DossierStatus, str] = {
    DossierStatus.ENROLLED: "Inscrit",
    DossierStatus.IN_TRAINING: "En formation",
    DossierStatus.INTERRUPTED: "Interrompu (suspension)",
    DossierStatus.EXITED: "Sorti",
    DossierStatus.CANCELLED: "Annulé (entrée déclarée par erreur)",
}

ACTION_LABELS: dict[DossierAction, str] = {
    DossierAction.ENTER: "Déclaration d'entrée",
    DossierAction.INTERRUPT: "Déclaration d'interruption",
    DossierAction.RESUME: "Déclaration de reprise",
    DossierAction.EXIT: "Déclaration de sortie",
    DossierAction.CANCEL: "Annulation du dossier",
}

# (current status, action) -> next status. Anything absent is an invalid transition.
TRANSITIONS: dict[tuple[DossierStatus, DossierAction], DossierStatus] = {
    (DossierStatus.ENROLLED, DossierAction.ENTER): DossierStatus.IN_TRAINING,
    (DossierStatus.ENROLLED, DossierAction.CANCEL): DossierStatus.CANCELLED,
    (DossierStatus.IN_TRAINING, DossierAction.INTERRUPT): DossierStatus.INTERRUPTED,
    (DossierStatus.IN_TRAINING, DossierAction.EXIT): DossierStatus.EXITED,
    (DossierStatus.IN_TRAINING, DossierAction.CANCEL): DossierStatus.CANCELLED,
    (DossierStatus.INTERRUPTED, DossierAction.RESUME): DossierStatus.IN_TRAINING,
    (DossierStatus.INTERRUPTED, DossierAction.EXIT): DossierStatus.EXITED,
    (DossierStatus.INTERRUPTED, DossierAction.CANCEL): DossierStatus.CANCELLED,
}

# Statuses in which the person has entered training (and holds a place).
ENTERED_STATUSES = frozenset({DossierStatus.IN_TRAINING, DossierStatus.INTERRUPTED, DossierStatus.EXITED})
IN_PROGRESS_STATUSES = frozenset({DossierStatus.IN_TRAINING, DossierStatus.INTERRUPTED})


class TransitionRefused(Exception):
    def __init__(self, action: DossierAction, current: DossierStatus):
        super().__init__(f"{action.value} is not allowed from {current.value}")
        self.action = action
        self.current = current
        self.allowed = allowed_actions(current)


@dataclass(frozen=True)
class Transition:
    action: DossierAction
    from_status: DossierStatus
    to_status: DossierStatus


def allowed_actions(status: DossierStatus) -> list[DossierAction]:
    return [action for (current, action) in TRANSITIONS if current is status]


def transition(status: DossierStatus, action: DossierAction) -> Transition:
    try:
        target = TRANSITIONS[(status, action)]
    except KeyError:
        raise TransitionRefused(action, status) from None
    return Transition(action, status, target)
