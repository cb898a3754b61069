"""One pagination for every list: keyset on (sort column, id), stable while rows are added.

    page = await keyset_page(db, query, by_instant(Prescription.created_at, Prescription.id),
                             cursor=cursor, limit=limit, render=summary)

The client gets `next_cursor` (opaque, `<key>.<id hex>`) until the last page; a cursor that
was not made here is a 422 naming `query.cursor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from pacte_common.http import (
    Page,
    date_key,
    decode_cursor,
    encode_cursor,
    instant_key,
    key_date,
    key_instant,
    key_month,
    month_key,
)


@dataclass(frozen=True)
class Keyset:
    """The order of a list: a sort column (instant, date or month) then the id, both ascending."""

    sort: Any  # an ORM column attribute
    id: Any
    to_key: Callable[[Any], int]
    from_key: Callable[[int], Any]


def by_instant(sort: Any, id_column: Any) -> Keyset:
    return Keyset(sort, id_column, instant_key, key_instant)


def by_date(sort: Any, id_column: Any) -> Keyset:
    return Keyset(sort, id_column, date_key, key_date)


def by_month(sort: Any, id_column: Any) -> Keyset:
    return Keyset(sort, id_column, month_key, key_month)


async def keyset_page(
    db: AsyncSession,
    query: Select,
    keyset: Keyset,
    *,
    cursor: str | None,
    limit: int,
    render: Callable[[Any], Any],
    entities: bool = True,
) -> Page:
    """One page of `query` after `cursor`. `entities=False` when the query selects several
    columns: rows are then tuples whose first element is the entity the keyset sorts."""
    after = decode_cursor(cursor)
    if after is not None:
        value = keyset.from_key(after.key)
        query = query.where(or_(keyset.sort > value, and_(keyset.sort == value, keyset.id > after.id)))
    result = await db.execute(query.order_by(keyset.sort, keyset.id).limit(limit + 1))
    rows = list(result.unique().scalars() if entities else result.unique().all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1] if entities else rows[-1][0]
        next_cursor = encode_cursor(keyset.to_key(getattr(last, keyset.sort.key)), getattr(last, keyset.id.key))
    return Page(items=[render(row) for row in rows], next_cursor=next_cursor)
