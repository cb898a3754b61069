"""State machines of the service, as declarative transition tables (pacte_common.state_machine).

Codes are English, labels French (what operators read). Every change is logged with who,
when, from, to and why (db.models.TransitionLog).
"""

from __future__ import annotations

from enum import StrEnum

from pacte_common.state_machine import StateMachine, table


class FileState(StrEnum):
    AWAITING_ENTRY = "awaiting_entry"
    AWAITING_REQUEST = "awaiting_request"
    OPEN = "open"
    NOT_ENTITLED = "not_entitled"
    CLOSED = "closed"
    CANCELLED = "cancelled"


FILE_STATE_LABELS = {
    FileState.AWAITING_ENTRY: "En attente de l'entrée en formation",
    FileState.AWAITING_REQUEST: "En attente de la demande de rémunération",
    FileState.OPEN: "Droit ouvert",
    FileState.NOT_ENTITLED: "Sans droit à rémunération",
    FileState.CLOSED: "Droit clos (sortie de formation)",
    FileState.CANCELLED: "Annulé (entrée déclarée par erreur)",
}


class FileAction(StrEnum):
    ENTER = "enter"
    FILE_REQUEST = "file_request"
    EXIT = "exit"
    CANCEL = "cancel"
    REDECIDE = "redecide"
    AMEND_REQUEST = "amend_request"


class RunState(StrEnum):
    DRAFT = "draft"
    VALIDATED = "validated"


RUN_STATE_LABELS = {RunState.DRAFT: "Brouillon (recalculable)", RunState.VALIDATED: "Validé (figé, lot émis)"}


class DebtState(StrEnum):
    OPEN = "open"
    DEMANDED = "demanded"
    PARTLY_REPAID = "partly_repaid"
    REPAID = "repaid"
    WRITTEN_OFF = "written_off"


DEBT_STATE_LABELS = {
    DebtState.OPEN: "Ouvert (trop-perçu à recouvrer)",
    DebtState.DEMANDED: "Ordre de reversement émis",
    DebtState.PARTLY_REPAID: "Partiellement remboursé",
    DebtState.REPAID: "Remboursé",
    DebtState.WRITTEN_OFF: "Admis en non-valeur (remise de dette)",
}


class DebtAction(StrEnum):
    OPEN = "open"
    DEMAND = "demand"
    REPAY = "repay"
    WRITE_OFF = "write_off"


class RunAction(StrEnum):
    COMPUTE = "compute"
    VALIDATE = "validate"


_LIVE = (FileState.AWAITING_ENTRY, FileState.AWAITING_REQUEST, FileState.OPEN, FileState.NOT_ENTITLED)
_DECIDED = (FileState.OPEN, FileState.NOT_ENTITLED)

# The entitlement of one training file. Entering and filing the request may come in either
# order; the regime is decided when both are known: several rows share (state, action) and the
# caller names the target the regime gave (open or not_entitled).
FILE = StateMachine("file", table([
    (FileState.AWAITING_ENTRY, FileAction.ENTER, FileState.AWAITING_REQUEST),
    (FileState.AWAITING_ENTRY, FileAction.ENTER, FileState.OPEN),
    (FileState.AWAITING_ENTRY, FileAction.ENTER, FileState.NOT_ENTITLED),
    (FileState.AWAITING_ENTRY, FileAction.FILE_REQUEST, FileState.AWAITING_ENTRY),
    ((FileState.AWAITING_ENTRY, FileState.AWAITING_REQUEST), FileAction.FILE_REQUEST, FileState.OPEN),
    ((FileState.AWAITING_ENTRY, FileState.AWAITING_REQUEST), FileAction.FILE_REQUEST, FileState.NOT_ENTITLED),
    (_LIVE, FileAction.EXIT, FileState.CLOSED),
    ((*_LIVE, FileState.CLOSED), FileAction.CANCEL, FileState.CANCELLED),
    # The regime decided again when the profile or the request changes (paid months are then reviewed).
    (_DECIDED, FileAction.REDECIDE, FileState.OPEN),
    (_DECIDED, FileAction.REDECIDE, FileState.NOT_ENTITLED),
    (FileState.CLOSED, FileAction.REDECIDE, FileState.CLOSED),
    # The request's facts corrected: the state stays (the regime may then be decided again).
    *((state, FileAction.AMEND_REQUEST, state) for state in (*_LIVE, FileState.CLOSED)),
]), state_attribute="state")

# A monthly run: computed (and recomputed) as a draft, then validated once. Its first
# computation creates it as a draft (StateMachine.record_creation).
RUN = StateMachine("run", table([
    (RunState.DRAFT, RunAction.COMPUTE, RunState.DRAFT),
    (RunState.DRAFT, RunAction.VALIDATE, RunState.VALIDATED),
]), state_attribute="state")

_OWED = (DebtState.OPEN, DebtState.DEMANDED, DebtState.PARTLY_REPAID)

# A debt: opened by a validated run (StateMachine.record_creation), demanded by the paying agency,
# repaid in one or several repayments, or written off by the Region with a reason.
DEBT = StateMachine("debt", table([
    (DebtState.OPEN, DebtAction.DEMAND, DebtState.DEMANDED),
    (_OWED, DebtAction.REPAY, DebtState.PARTLY_REPAID),
    (_OWED, DebtAction.REPAY, DebtState.REPAID),
    (_OWED, DebtAction.WRITE_OFF, DebtState.WRITTEN_OFF),
]), state_attribute="state")
