"""The training file's state machine (docs/rules.md §4.1), as one declarative table.

    enrolled ──enter──▶ in_training ──interrupt──▶ interrupted
                          ▲   │                       │
                          │   └──────exit──────┐      │
                          └──────resume────────┼──────┘
                                               ▼
                                            exited        (interrupted ──exit──▶ exited too)
    enrolled | in_training | interrupted ──cancel──▶ cancelled

A newcomer reads the whole lifecycle in `DOSSIER`; everything else asks it (`DOSSIER.move`,
`DOSSIER.allowed_actions`). Who may act is decided at the HTTP edge (training organisation
or Region), so the rows name no role.
"""

from __future__ import annotations

from enum import StrEnum

from pacte_common.contracts.sessions import DossierStatus
from pacte_common.state_machine import StateMachine, table


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

# From this status, this action leads to that status. Anything absent is an invalid transition.
DOSSIER: StateMachine[DossierStatus, DossierAction] = StateMachine(
    "dossier",
    table([
        (DossierStatus.ENROLLED, DossierAction.ENTER, DossierStatus.IN_TRAINING),
        (DossierStatus.IN_TRAINING, DossierAction.INTERRUPT, DossierStatus.INTERRUPTED),
        (DossierStatus.INTERRUPTED, DossierAction.RESUME, DossierStatus.IN_TRAINING),
        ((DossierStatus.IN_TRAINING, DossierStatus.INTERRUPTED), DossierAction.EXIT, DossierStatus.EXITED),
        (
            (DossierStatus.ENROLLED, DossierStatus.IN_TRAINING, DossierStatus.INTERRUPTED),
            DossierAction.CANCEL,
            DossierStatus.CANCELLED,
        ),
    ]),
)

# Statuses in which the person has entered training (and holds a place).
ENTERED_STATUSES = frozenset({DossierStatus.IN_TRAINING, DossierStatus.INTERRUPTED, DossierStatus.EXITED})
IN_PROGRESS_STATUSES = frozenset({DossierStatus.IN_TRAINING, DossierStatus.INTERRUPTED})
