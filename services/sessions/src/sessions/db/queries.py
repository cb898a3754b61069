"""Queries shared by the HTTP edge and the use cases (app/): reads and row locks, no writes."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from pacte_common.contracts.sessions import DossierStatus
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.models import (
    Action,
    AttendanceStatement,
    Dossier,
    DossierTransition,
    Programme,
    TrainingSession,
)
from sessions.domain.training import MonthlyAttendance, holds_place


async def session_for_update(db: AsyncSession, session_id: uuid.UUID) -> TrainingSession | None:
    """The session row, locked on PostgreSQL so two entries cannot take the last place twice.

    Every change of places (enrolment, entry, exit, cancellation) takes this lock first, so the
    recount, the version and the SessionUpdated it publishes follow commit order. The row is
    re-read under the lock (populate_existing): a copy loaded earlier in the transaction may be stale.
    """
    query = (
        select(TrainingSession)
        .where(TrainingSession.id == session_id)
        .with_for_update(of=TrainingSession)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(query)).unique().scalar_one_or_none()


async def dossier_by_id(db: AsyncSession, dossier_id: uuid.UUID, *, for_update: bool = False) -> Dossier | None:
    query = select(Dossier).where(Dossier.id == dossier_id)
    if for_update:
        query = query.with_for_update(of=Dossier)
    return (await db.execute(query)).unique().scalar_one_or_none()


# A file with its session, action and programme read in one Core statement (the hot path of
# the entry: docs/scaling.md, "Dossier entry in sessions"). Each table's columns are labelled with a prefix so the
# row splits back into plain objects that carry the same attributes as the ORM classes (and
# the same nesting: dossier.session.action.programme), which the access rules, the event
# snapshots and the rendering read unchanged.
_DOSSIER_TABLES = (
    ("d_", Dossier.__table__), ("s_", TrainingSession.__table__), ("a_", Action.__table__), ("p_", Programme.__table__),
)
_DOSSIER_COLUMNS = [column.label(prefix + column.name) for prefix, table in _DOSSIER_TABLES for column in table.c]


def _part(row: Any, prefix: str, table: Any) -> SimpleNamespace:
    return SimpleNamespace(**{column.name: row[prefix + column.name] for column in table.c})


def _dossier_view_query():
    dossiers, sessions = Dossier.__table__, TrainingSession.__table__
    actions, programmes = Action.__table__, Programme.__table__
    return (
        select(*_DOSSIER_COLUMNS)
        .select_from(
            dossiers.join(sessions, dossiers.c.session_id == sessions.c.id)
            .join(actions, sessions.c.action_id == actions.c.id)
            .join(programmes, actions.c.programme_id == programmes.c.id)
        )
        .where(dossiers.c.id == bindparam("dossier_id"))
        .with_for_update(of=[dossiers, sessions])
    )


# Built once: an entry only binds its id (building this 80-column statement took ≈ 0.3 ms of CPU per call).
_DOSSIER_VIEW = _dossier_view_query()
_PLACES_BY_STATUS = (
    select(Dossier.status, func.count()).where(Dossier.session_id == bindparam("session_id")).group_by(Dossier.status)
)


async def dossier_view_for_update(db: AsyncSession, dossier_id: uuid.UUID) -> SimpleNamespace | None:
    """The file and its session, both locked (PostgreSQL: file first, then session, the order
    every change of places takes), with the session's action and programme, in one statement.

    A plain object, not an ORM instance: the caller writes its change with Core statements.
    Its `interruptions` are not read (empty): only a file never entered (enrolled) may use it.
    """
    row = (await db.execute(_DOSSIER_VIEW, {"dossier_id": dossier_id})).mappings().first()
    if row is None:
        return None
    (_, dossier_table), (_, session_table), (_, action_table), (_, programme_table) = _DOSSIER_TABLES
    action = _part(row, "a_", action_table)
    action.programme = _part(row, "p_", programme_table)
    session = _part(row, "s_", session_table)
    session.action = action
    dossier = _part(row, "d_", dossier_table)
    dossier.session = session
    dossier.interruptions = []
    return dossier


async def places_taken(db: AsyncSession, session_id: uuid.UUID, permanent_entries: bool) -> int:
    """The files holding a place in the session (domain.training.holds_place), counted now."""
    rows = (await db.execute(_PLACES_BY_STATUS, {"session_id": session_id})).all()
    return sum(count for status, count in rows if holds_place(status, permanent_entries))


async def row_for_update(db: AsyncSession, model: Any, row_id: uuid.UUID) -> Any:
    """The row, locked on PostgreSQL (only its own table: eager joins stay unlocked)."""
    query = select(model).where(model.id == row_id).with_for_update(of=model)
    return (await db.execute(query)).unique().scalar_one_or_none()


async def person_of_nir(db: AsyncSession, nir_hash: str) -> uuid.UUID | None:
    """The person a NIR already belongs to (by its keyed hash), if any file has it."""
    return (await db.execute(select(Dossier.person_id).where(Dossier.nir_hash == nir_hash).limit(1))).scalar_one_or_none()


async def session_taken_by(db: AsyncSession, session_id: uuid.UUID, person_id: uuid.UUID) -> bool:
    """Whether the person has a file (not cancelled) in the session."""
    query = select(Dossier.id).where(
        Dossier.session_id == session_id,
        Dossier.person_id == person_id,
        Dossier.status.not_in([DossierStatus.CANCELLED.value]),
    )
    return (await db.execute(query)).first() is not None


async def transitions_of(db: AsyncSession, dossier_id: uuid.UUID) -> list[DossierTransition]:
    query = select(DossierTransition).where(DossierTransition.dossier_id == dossier_id).order_by(DossierTransition.id)
    return list((await db.execute(query)).scalars())


async def month_history(db: AsyncSession, dossier_id: uuid.UUID, month: str) -> list[AttendanceStatement]:
    """A month's statements, the current one first."""
    query = (
        select(AttendanceStatement)
        .where(AttendanceStatement.dossier_id == dossier_id, AttendanceStatement.month == month)
        .order_by(AttendanceStatement.version.desc())
    )
    return list((await db.execute(query)).scalars())


async def count_places_taken(db: AsyncSession, session: TrainingSession) -> int:
    return await places_taken(db, session.id, session.permanent_entries)


async def current_statements(db: AsyncSession, dossier_id: uuid.UUID) -> list[AttendanceStatement]:
    query = (
        select(AttendanceStatement)
        .where(AttendanceStatement.dossier_id == dossier_id, AttendanceStatement.current.is_(True))
        .order_by(AttendanceStatement.month)
    )
    return list((await db.execute(query)).scalars())


def as_attendance(statement: AttendanceStatement) -> MonthlyAttendance:
    return MonthlyAttendance(
        planned_hours=statement.planned_hours,
        attended_hours=statement.attended_hours,
        justified_absence_hours=statement.justified_absence_hours,
        unjustified_absence_hours=statement.unjustified_absence_hours,
        in_company_hours=statement.in_company_hours,
    )


async def sessions_of_action(db: AsyncSession, action_id: uuid.UUID) -> list[TrainingSession]:
    return list((await db.execute(select(TrainingSession).where(TrainingSession.action_id == action_id))).unique().scalars())


async def sessions_page(db: AsyncSession, after: uuid.UUID | None, limit: int) -> list[TrainingSession]:
    """Sessions in id order after `after`, with their actions and programmes (a republication's batch)."""
    query = select(TrainingSession).order_by(TrainingSession.id).limit(limit)
    if after is not None:
        query = query.where(TrainingSession.id > after)
    return list((await db.execute(query)).unique().scalars())


async def sessions_of_programme(db: AsyncSession, programme_id: uuid.UUID) -> list[TrainingSession]:
    query = select(TrainingSession).join(Action, TrainingSession.action_id == Action.id).where(Action.programme_id == programme_id)
    return list((await db.execute(query)).unique().scalars())
