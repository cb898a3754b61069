"""The training offer's use cases (the Region writes): programmes, actions, sessions.

Each loads the row (locked on PostgreSQL), checks If-Match (412) and the rule, writes, publishes
what the sessions' readers must know (every session of a changed programme or action is
republished) and commits. A row's version is bumped by its UPDATE (the models' version_id_col);
creations commit through create_once (once per idempotency key).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from pacte_common.auth import Principal
from pacte_common.clock import utcnow
from pacte_common.contracts.sessions import (
    RecruitmentState,
    SessionCancelled,
    SessionClosed,
    SessionPublished,
    SessionUpdated,
)
from pacte_common.errors import Conflict, Invalid, InvalidTransition, NotFound
from pacte_common.http import check_if_match
from pacte_common.idempotency import Answer, create_once
from pacte_common.service import Runtime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.app.territories import assign_territories
from sessions.db.models import Action, Programme, TrainingSession
from sessions.db.queries import (
    row_for_update,
    sessions_of_action,
    sessions_of_programme,
    sessions_page,
)
from sessions.events.publish import publish_catalogue, session_snapshot

# Renders a created row as the answer's body (api/), which idempotent replays repeat.
Render = Callable[[Any], Any]

# Fields an update may set back to nothing (null); any other null in a patch means "unchanged".
NULLABLE_ACTION_FIELDS = ("weekly_hours", "rncp_code", "formacode", "territory_code")


def check_departement(runtime: Runtime, departement: str | None, field: str = "body.departement") -> None:
    if departement is not None and departement not in runtime.settings.departements:
        raise Conflict(f"département must be one of {', '.join(sorted(runtime.settings.departements))}",
                       slug="outside-region", field=field)


async def programme_by_code(db: AsyncSession, code: str, field: str = "body.programme_code") -> Programme:
    programme = (await db.execute(select(Programme).where(Programme.code == code))).scalar_one_or_none()
    if programme is None:
        raise Conflict(f"no programme with code {code!r}", slug="unknown-reference", field=field)
    return programme


async def _locked(db: AsyncSession, model: Any, row_id: uuid.UUID, if_match: str | None, missing: str) -> Any:
    row = await row_for_update(db, model, row_id)
    if row is None:
        raise NotFound(missing)
    check_if_match(if_match, row.version)
    return row


def _apply(row: Any, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(row, name, value)


async def _create_once(
    db: AsyncSession, runtime: Runtime, principal: Principal, operation: str, *, payload: Any,
    idempotency_key: str | None, create: Callable[[], Any],
) -> Answer:
    return await create_once(
        db, runtime.tables, hasher=runtime.hasher, principal=principal, operation=operation,
        key=idempotency_key, payload=payload, create=create,
    )


# ---------------------------------------------------------------- programmes


async def create_programme(
    db: AsyncSession, runtime: Runtime, principal: Principal, fields: dict[str, Any], *,
    payload: Any, idempotency_key: str | None, render: Render,
) -> Answer:
    async def create():
        if (await db.execute(select(Programme.id).where(Programme.code == fields["code"]))).first():
            raise Conflict(f"a programme with code {fields['code']!r} exists", field="body.code")
        programme = Programme(**fields)
        db.add(programme)
        await db.flush()
        return 201, render(programme)

    return await _create_once(db, runtime, principal, "create-programme", payload=payload, idempotency_key=idempotency_key, create=create)


async def update_programme(
    db: AsyncSession, runtime: Runtime, programme_id: uuid.UUID, patch: dict[str, Any], *, if_match: str | None
) -> Programme:
    """Changes what differs; the programme's sessions are republished (their snapshot names it)."""
    programme = await _locked(db, Programme, programme_id, if_match, "No such programme")
    changes = {k: v for k, v in patch.items() if v is not None and getattr(programme, k) != v}
    if changes:
        _apply(programme, changes)
        await db.flush()
        for session in await sessions_of_programme(db, programme.id):
            await db.refresh(session)
            await publish_catalogue(db, runtime, SessionUpdated, session)
        await db.commit()
    return programme


# ---------------------------------------------------------------- actions


async def create_action(
    db: AsyncSession, runtime: Runtime, principal: Principal, fields: dict[str, Any], *, programme_code: str,
    payload: Any, idempotency_key: str | None, render: Render,
) -> Answer:
    check_departement(runtime, fields.get("departement"))

    async def create():
        programme = await programme_by_code(db, programme_code)
        lheo_id = fields.get("lheo_id")
        if lheo_id and (await db.execute(select(Action.id).where(Action.lheo_id == lheo_id))).first():
            raise Conflict(f"an action with LHEO id {lheo_id!r} exists", field="body.lheo_id")
        action = Action(**fields, programme=programme)
        db.add(action)
        await db.flush()
        await db.refresh(action)  # amounts as stored (two decimals), as every later read shows them
        return 201, render(action)

    return await _create_once(db, runtime, principal, "create-action", payload=payload, idempotency_key=idempotency_key, create=create)


async def update_action(
    db: AsyncSession, runtime: Runtime, action_id: uuid.UUID, patch: dict[str, Any], *, if_match: str | None
) -> Action:
    """Changes what differs (a programme named by its code); the action's sessions are republished."""
    action = await _locked(db, Action, action_id, if_match, "No such action")
    check_departement(runtime, patch.get("departement"))
    changes = dict(patch)
    if "programme_code" in changes:
        code = changes.pop("programme_code")
        if code is not None and code != action.programme.code:
            action.programme = await programme_by_code(db, code)
            changes["programme_id"] = action.programme.id
    changes = {
        k: v for k, v in changes.items()
        if (v is not None or k in NULLABLE_ACTION_FIELDS) and getattr(action, k) != v
    }
    if changes:
        _apply(action, changes)
        await db.flush()
        await db.refresh(action)
        for session in await sessions_of_action(db, action.id):
            await publish_catalogue(db, runtime, SessionUpdated, session)
        await db.commit()
    return action


# ---------------------------------------------------------------- sessions


async def create_session(
    db: AsyncSession, runtime: Runtime, principal: Principal, fields: dict[str, Any], *,
    payload: Any, idempotency_key: str | None, render: Render,
) -> Answer:
    """A new session of an action, placed in its territory, published (SessionPublished)."""

    async def create():
        action = await db.get(Action, fields["action_id"])
        if action is None:
            raise Conflict("no action with this id", slug="unknown-reference", field="body.action_id")
        lheo_id = fields.get("lheo_id")
        if lheo_id and (await db.execute(select(TrainingSession.id).where(TrainingSession.lheo_id == lheo_id))).first():
            raise Conflict(f"a session with LHEO id {lheo_id!r} exists", field="body.lheo_id")
        session = TrainingSession(action=action, places_taken=0, **fields)
        db.add(session)
        await assign_territories(db, [session])  # territory_code from the training place (docs/territories.md)
        await publish_catalogue(db, runtime, SessionPublished, session)
        return 201, render(session)

    return await _create_once(db, runtime, principal, "create-session", payload=payload, idempotency_key=idempotency_key, create=create)


def _session_changes(session: TrainingSession, patch: dict[str, Any]) -> dict[str, Any]:
    """What the patch changes, its dates checked (422: an end before the start)."""
    changes = {k: v for k, v in patch.items() if v is not None}
    start = date.fromisoformat(changes.get("start_date", session.start_date.isoformat()))
    end = date.fromisoformat(changes.get("end_date", session.end_date.isoformat()))
    if end < start:
        raise Invalid("end_date must be on or after start_date", field="body.end_date")
    if "start_date" in changes:
        changes["start_date"] = start
    if "end_date" in changes:
        changes["end_date"] = end
    return {k: v for k, v in changes.items() if getattr(session, k) != v}


async def update_session(
    db: AsyncSession, runtime: Runtime, session_id: uuid.UUID, patch: dict[str, Any], *, if_match: str | None
) -> TrainingSession:
    """Publishes SessionUpdated, or SessionClosed when its recruitment closes. A cancelled session stays as it is."""
    session = await _locked(db, TrainingSession, session_id, if_match, "No such session")
    if session.cancelled_at is not None:
        raise InvalidTransition("update", "cancelled", [])
    changes = _session_changes(session, patch)
    if session.places_unknown and "places" in changes:
        # Imported without places (docs/lheo.md): the Region's places open it for admission.
        changes["places_unknown"] = False
        if "recruitment_state" not in changes and session.recruitment_state == RecruitmentState.CLOSED.value:
            changes["recruitment_state"] = RecruitmentState.OPEN.value
    if changes:
        _apply(session, changes)
        await db.flush()
        closed = changes.get("recruitment_state") == RecruitmentState.CLOSED.value
        await publish_catalogue(db, runtime, SessionClosed if closed else SessionUpdated, session)
        await db.commit()
    return session


async def cancel_session(
    db: AsyncSession, runtime: Runtime, session_id: uuid.UUID, *, reason: str, if_match: str | None
) -> TrainingSession:
    """Cancels a session nobody has entered (409 otherwise); publishes SessionCancelled."""
    session = await _locked(db, TrainingSession, session_id, if_match, "No such session")
    if session.cancelled_at is not None:
        raise InvalidTransition("cancel", "cancelled", [])
    if session.places_taken:
        raise Conflict(f"{session.places_taken} trainees have entered this session: exit or cancel their files first")
    session.cancelled_at = utcnow()
    session.cancel_reason = reason
    session.recruitment_state = RecruitmentState.CLOSED.value
    await db.flush()
    await publish_catalogue(db, runtime, SessionCancelled, session)
    await db.commit()
    return session


# ---------------------------------------------------------------- republication


async def republish_catalogue(db: AsyncSession, runtime: Runtime, batch: int = 500) -> int:
    """Publishes every session's snapshot again (`session.updated.v1`, as it is now: same
    versions, so a reader that holds it changes only what it did not have) and commits. For a
    reader that gained fields of the snapshot, or a new one (docs/public-search.md, "The move").
    Returns how many sessions were published."""
    published, after = 0, None
    while True:
        sessions = await sessions_page(db, after, batch)
        if not sessions:
            break
        await runtime.outbox.publish_many(db, [(SessionUpdated(session=session_snapshot(s)), str(s.id), None) for s in sessions])
        published += len(sessions)
        after = sessions[-1].id
        db.expunge_all()  # a batch at a time in memory
    await db.commit()
    return published
