"""State machines of the service, as declarative transition tables.

Codes are English, labels French (what operators read). Every change is logged with who,
when, from, to and why (db.models.TransitionLog).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


class RunState(StrEnum):
    DRAFT = "draft"
    VALIDATED = "validated"


RUN_STATE_LABELS = {RunState.DRAFT: "Brouillon (recalculable)", RunState.VALIDATED: "Validé (figé, lot émis)"}


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    targets: frozenset[str]


def _t(action: str, sources, targets) -> Transition:
    return Transition(action, frozenset(sources), frozenset(targets))


_LIVE = {FileState.AWAITING_ENTRY, FileState.AWAITING_REQUEST, FileState.OPEN, FileState.NOT_ENTITLED}

# The entitlement of one training file. Entering and filing the request may come in either
# order; the regime is decided when both are known (target open or not_entitled).
FILE_TRANSITIONS: tuple[Transition, ...] = (
    _t("enter", {FileState.AWAITING_ENTRY}, {FileState.AWAITING_REQUEST, FileState.OPEN, FileState.NOT_ENTITLED}),
    _t("file_request", {FileState.AWAITING_ENTRY, FileState.AWAITING_REQUEST},
       {FileState.AWAITING_ENTRY, FileState.OPEN, FileState.NOT_ENTITLED}),
    _t("exit", _LIVE, {FileState.CLOSED}),
    _t("cancel", _LIVE | {FileState.CLOSED}, {FileState.CANCELLED}),
    # The regime decided again when the profile or the request changes (paid months are then reviewed).
    _t("redecide", {FileState.OPEN, FileState.NOT_ENTITLED, FileState.CLOSED},
       {FileState.OPEN, FileState.NOT_ENTITLED, FileState.CLOSED}),
)

# A monthly run: computed (and recomputed) as a draft, then validated once.
RUN_TRANSITIONS: tuple[Transition, ...] = (
    _t("compute", {"", RunState.DRAFT}, {RunState.DRAFT}),
    _t("validate", {RunState.DRAFT}, {RunState.VALIDATED}),
)


def allowed_actions(table: tuple[Transition, ...], state: str) -> list[str]:
    return sorted(t.action for t in table if state in t.sources)


def check(table: tuple[Transition, ...], action: str, state: str, target: str) -> None:
    """Raises IllegalTransition unless `action` may take `state` to `target`."""
    for transition in table:
        if transition.action == action and state in transition.sources and target in transition.targets:
            return
    raise IllegalTransition(action, state, allowed_actions(table, state))


class IllegalTransition(Exception):
    def __init__(self, action: str, state: str, allowed: list[str]):
        super().__init__(f"'{action}' is not allowed when the state is '{state}'")
        self.action, self.state, self.allowed = action, state, allowed
