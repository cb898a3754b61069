"""Set-based writes of the read models: what a run of events leaves, in one statement per table."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def held_rows(db: AsyncSession, model, keys, *columns: str) -> dict[Any, dict]:
    """These rows' `columns`, by id (the rows that exist)."""
    if not keys:
        return {}
    table = model.__table__
    query = select(table.c.id, *(table.c[name] for name in columns)).where(table.c.id.in_(list(keys)))
    return {row["id"]: dict(row) for row in (await db.execute(query)).mappings()}


async def upsert_rows(db: AsyncSession, model, rows: dict[Any, dict]) -> None:
    """Inserts each row (id → values) or, if its id exists, sets the values it gives; rows
    giving the same columns go in one statement."""
    table = model.__table__
    insert = postgresql_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    by_columns: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for key, values in rows.items():
        by_columns[tuple(sorted(values))].append({"id": key, **values})
    for columns, group in by_columns.items():
        statement = insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.id], set_={name: statement.excluded[name] for name in columns})
        await db.execute(statement, group)
