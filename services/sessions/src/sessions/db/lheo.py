"""The LHEO import's reads and bulk writes (docs/lheo.md, "Import"): existing rows by LHEO id in
a few SELECTs, sessions inserted and updated with one executemany per shape of row. No commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from pacte_common.db import utcnow
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from sessions.db.models import Action, TrainingSession

SESSIONS: Table = TrainingSession.__table__  # type: ignore[assignment]
CHUNK = 1000  # keys per IN list: far below SQLite's and asyncpg's bound-parameter limits


def _chunks(values: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def _rows(db: AsyncSession, query) -> list[dict[str, Any]]:
    result = await db.execute(query)
    keys = list(result.keys())  # once: a mapping per row costs more than the row itself
    return [dict(zip(keys, row, strict=True)) for row in result]


def _own_ids(keys: Iterable[str]) -> dict[uuid.UUID, str]:
    """Keys that are Pacte UUIDs: an exported row without LHEO id is exported under its own id."""
    own = {}
    for key in keys:
        try:
            own[uuid.UUID(key)] = key
        except ValueError:
            continue
    return own


async def actions_by_key(db: AsyncSession, keys: list[str]) -> dict[str, Action]:
    """The actions whose LHEO id, or own id when they have none, is one of `keys`."""
    found: dict[str, Action] = {}
    for part in _chunks(keys):
        for action in (await db.execute(select(Action).where(Action.lheo_id.in_(part)))).unique().scalars():
            found[action.lheo_id] = action
    own = _own_ids(k for k in keys if k not in found)
    for part in _chunks(list(own)):
        query = select(Action).where(Action.id.in_(part), Action.lheo_id.is_(None))
        for action in (await db.execute(query)).unique().scalars():
            found[own[action.id]] = action
    return found


async def session_rows_by_key(db: AsyncSession, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The session rows (plain columns) whose LHEO id, or own id when they have none, is one of `keys`."""
    found: dict[str, dict[str, Any]] = {}
    for part in _chunks(keys):
        for row in await _rows(db, select(SESSIONS).where(SESSIONS.c.lheo_id.in_(part))):
            found[row["lheo_id"]] = row
    own = _own_ids(k for k in keys if k not in found)
    for part in _chunks(list(own)):
        query = select(SESSIONS).where(SESSIONS.c.id.in_(part), SESSIONS.c.lheo_id.is_(None))
        for row in await _rows(db, query):
            found[own[row["id"]]] = row
    return found


async def open_session_rows_of_feed(db: AsyncSession, feed: str) -> list[dict[str, Any]]:
    """The feed's sessions neither cancelled nor closed, by LHEO id."""
    query = select(SESSIONS).where(
        SESSIONS.c.lheo_feed == feed, SESSIONS.c.cancelled_at.is_(None), SESSIONS.c.recruitment_state != "closed"
    ).order_by(SESSIONS.c.lheo_id)
    return await _rows(db, query)


async def session_rows_of_actions(db: AsyncSession, action_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for part in _chunks(action_ids):
        rows += await _rows(db, select(SESSIONS).where(SESSIONS.c.action_id.in_(part)))
    return rows


async def actions_by_id(db: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Action]:
    found: dict[uuid.UUID, Action] = {}
    for part in _chunks(ids):
        found.update((a.id, a) for a in (await db.execute(select(Action).where(Action.id.in_(part)))).unique().scalars())
    return found


async def insert_sessions(db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """New sessions, each row complete (id, version 1, timestamps): one multi-row INSERT."""
    if rows:
        await db.execute(insert(SESSIONS), rows)


async def update_sessions(db: AsyncSession, writes: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """(current row, columns to write) pairs: each row gets its columns, `version` + 1 and
    `updated_at`; one executemany per set of columns written.

    The rows are locked first (`FOR UPDATE`, PostgreSQL) and their versions compared with the
    ones read: a row another transaction changed meanwhile fails the whole import
    (`StaleDataError`, a 409), as the ORM's optimistic concurrency does.
    """
    if not writes:
        return
    expected = {current["id"]: current["version"] for current, _ in writes}
    for part in _chunks(list(expected)):
        query = select(SESSIONS.c.id, SESSIONS.c.version).where(SESSIONS.c.id.in_(part)).with_for_update()
        for row_id, version in (await db.execute(query)).all():
            if version != expected[row_id]:
                raise StaleDataError(f"training session {row_id} was changed by another transaction during the import")
    now = utcnow()
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for current, columns in writes:
        values = {**columns, "version": current["version"] + 1, "updated_at": now}
        params = {"b_id": current["id"], **{f"b_{name}": value for name, value in values.items()}}
        by_shape.setdefault(tuple(sorted(columns)), []).append(params)
    for shape, params in by_shape.items():
        names = (*shape, "version", "updated_at")
        statement = update(SESSIONS).where(SESSIONS.c.id == bindparam("b_id")).values({name: bindparam(f"b_{name}") for name in names})
        await db.execute(statement, params)
