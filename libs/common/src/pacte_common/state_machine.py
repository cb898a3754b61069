"""One way to write a state machine: a declarative table, and a call that moves and logs.

A service's `domain/` declares its machine as data (no I/O):

    PRESCRIPTION = StateMachine("prescription", (
        Transition(Status.SUBMITTED, Action.ADMIT, Status.ADMITTED, roles={Role.TRAINING_ORG}),
        ...
    ))

Each row reads "from this state, this action leads to that state, taken by these roles, if the
guard says nothing against it". Several rows may share a (state, action) when the target is
decided by a rule (the pay file's regime): the caller then names the target it computed.

Its `app/` applies it with `machine.move(db, subject, action, ...)`: the one call that checks
the table, changes the subject's state and adds the transition log row (who, when, from, to,
why, trace id) to the caller's transaction, so both commit together or not at all. Every
service's log table takes its columns from `pacte_common.db.TransitionLogColumns`. This module
imports no database library: a domain that declares its machine stays pure (the shape test
follows the imports).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pacte_common.clock import utcnow
from pacte_common.tracing import current_trace_id

S = TypeVar("S", bound=StrEnum)
A = TypeVar("A", bound=StrEnum)

# A guard looks at the subject and returns why the move is refused, or None to allow it.
Guard = Callable[[Any], str | None]


@dataclass(frozen=True)
class Transition(Generic[S, A]):
    source: S
    action: A
    target: S
    roles: frozenset[str] = frozenset()  # who may take it; empty: the caller decides (system moves)
    guard: Guard | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(self.roles))


class TransitionRefused(Exception):
    """The table has no such move from this state (or the role or the guard forbids it).

    `allowed` lists what may be done from the current state (for the role when given), so the
    HTTP edge can answer 409 with the way forward.
    """

    def __init__(self, machine: str, state: str, action: str, allowed: list[str], why: str | None = None):
        message = why or f"'{action}' is not allowed when the {machine} is '{state}'"
        super().__init__(message)
        self.machine, self.state, self.action, self.allowed, self.why = machine, state, action, allowed, why


@dataclass(frozen=True)
class Moved(Generic[S, A]):
    """What a move did: the table row it followed and the log row it added."""

    transition: Transition[S, A]
    log: Any

    @property
    def source(self) -> S:
        return self.transition.source

    @property
    def target(self) -> S:
        return self.transition.target


@dataclass(frozen=True)
class StateMachine(Generic[S, A]):
    name: str
    transitions: tuple[Transition[S, A], ...]
    state_attribute: str = "status"  # where the subject keeps its state
    _by_key: dict[tuple[str, str], list[Transition[S, A]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[tuple[str, str], list[Transition[S, A]]] = {}
        for transition in self.transitions:
            by_key.setdefault((transition.source, transition.action), []).append(transition)
        object.__setattr__(self, "_by_key", by_key)

    # ------------------------------------------------------------------ pure reading

    @property
    def states(self) -> set[S]:
        return {t.source for t in self.transitions} | {t.target for t in self.transitions}

    def sources_of(self, action: A) -> frozenset[S]:
        return frozenset(t.source for t in self.transitions if t.action == action)

    def allowed_actions(self, state: str, role: str | None = None) -> list[A]:
        """Actions possible from `state` (for `role` when given), in table order, once each."""
        seen: dict[A, None] = {}
        for t in self.transitions:
            if t.source == state and (role is None or not t.roles or role in t.roles):
                seen.setdefault(t.action, None)
        return list(seen)

    def roles_of(self, action: A) -> frozenset[str]:
        return frozenset().union(*(t.roles for t in self.transitions if t.action == action))

    def step(
        self, state: str, action: str, *, role: str | None = None, subject: Any = None, target: str | None = None
    ) -> Transition[S, A]:
        """The table row for this move, or TransitionRefused. No side effect."""
        candidates = self._by_key.get((state, action), [])
        if target is not None:
            candidates = [t for t in candidates if t.target == target]
        if role is not None:
            candidates = [t for t in candidates if not t.roles or role in t.roles]
        if not candidates:
            raise self._refused(state, action, role)
        if len(candidates) > 1:
            raise ValueError(f"{self.name}: '{action}' from '{state}' has several targets; name the one decided")
        transition = candidates[0]
        why = transition.guard(subject) if transition.guard and subject is not None else None
        if why:
            raise TransitionRefused(self.name, str(state), str(action), self._allowed(state, role), why)
        return transition

    def can(self, state: str, action: str, *, role: str | None = None, target: str | None = None) -> bool:
        try:
            self.step(state, action, role=role, target=target)
        except TransitionRefused:
            return False
        return True

    # ------------------------------------------------------------------ the move

    def move(
        self,
        db: Any,
        subject: Any,
        action: A,
        *,
        log: Callable[..., Any],
        actor: str,
        at: datetime | None = None,
        role: str | None = None,
        reason: str | None = None,
        target: S | None = None,
        details: dict[str, Any] | None = None,
        **log_columns: Any,
    ) -> Moved[S, A]:
        """Checks the table, sets the subject's state and adds the log row to `db` (not committed).

        `log` is the service's log model; `log_columns` are its own columns (the subject's id).
        """
        state = getattr(subject, self.state_attribute)
        transition = self.step(state, action, role=role, subject=subject, target=target)
        setattr(subject, self.state_attribute, transition.target.value)
        row = log(**_log_row(action, state, transition.target, actor, at, reason, details, log_columns))
        db.add(row)
        return Moved(transition, row)

    def record_creation(
        self, db: Any, subject: Any, *, log: Callable[..., Any], actor: str, action: str = "create",
        at: datetime | None = None, reason: str | None = None, details: dict[str, Any] | None = None,
        **log_columns: Any,
    ) -> Any:
        """The first log row of a subject, which has no source state (its creation)."""
        row = log(**self.creation_row(getattr(subject, self.state_attribute), actor=actor, action=action, at=at,
                                      reason=reason, details=details, **log_columns))
        db.add(row)
        return row

    # For set-based statements (a conditional UPDATE, a bulk INSERT of a batch): the same
    # check and the same log columns as `move`, as a dict the caller inserts with the batch.

    def checked_row(
        self, state: str, action: A, *, actor: str, at: datetime | None = None, role: str | None = None,
        reason: str | None = None, target: S | None = None, details: dict[str, Any] | None = None,
        **log_columns: Any,
    ) -> dict[str, Any]:
        """The log row of a move from `state` (raises TransitionRefused like `move`)."""
        transition = self.step(state, action, role=role, target=target)
        return _log_row(action, state, transition.target, actor, at, reason, details, log_columns)

    def creation_row(
        self, state: str, *, actor: str, action: str = "create", at: datetime | None = None,
        reason: str | None = None, details: dict[str, Any] | None = None, **log_columns: Any,
    ) -> dict[str, Any]:
        return _log_row(action, None, state, actor, at, reason, details, log_columns)

    def _allowed(self, state: str, role: str | None) -> list[str]:
        return [a.value for a in self.allowed_actions(state, role)]

    def _refused(self, state: str, action: str, role: str | None) -> TransitionRefused:
        return TransitionRefused(self.name, str(state), str(action), self._allowed(state, role))


def _log_row(action: str, source: str | None, target: str, actor: str, at: datetime | None, reason: str | None,
             details: dict[str, Any] | None, columns: dict[str, Any]) -> dict[str, Any]:
    """Who, when, from, to, why and the trace: the columns every transition log shares."""
    return dict(
        action=str(action), from_status=None if source is None else str(source), to_status=str(target), actor=actor,
        at=at or utcnow(), reason=reason, trace_id=current_trace_id(), details=details or {}, **columns,
    )


def table(rows: Iterable[tuple[Collection[S] | S, A, S]], roles: Collection[str] = ()) -> tuple[Transition[S, A], ...]:
    """Rows written compactly: (source or sources, action, target), all taken by `roles`."""
    out: list[Transition[S, A]] = []
    for sources, action, target in rows:
        for source in sources if isinstance(sources, Collection) and not isinstance(sources, str) else (sources,):
            out.append(Transition(source, action, target, frozenset(roles)))
    return tuple(out)
