"""Use case: empty the read models before the topics are replayed into them (docs/insights.md §4).

The read models and the inbox rows of insights' consumers go in one transaction: a replayed
event must not find the inbox row of its first delivery, or it would be skipped.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from insights.db.models import READ_MODELS, messaging
from insights.db.public_search import empty_fts


async def empty_read_models(db: AsyncSession, consumers: list[str]) -> dict[str, int]:
    """Deletes every row of the read models and the inbox rows of `consumers`
    (`insights.<subscription>`); commits. Returns how many rows each table held."""
    held = {}
    for model in READ_MODELS:
        held[model.__tablename__] = (await db.execute(select(func.count()).select_from(model))).scalar_one()
        await db.execute(delete(model))
    await empty_fts(db)  # the public search's SQLite full-text rows follow `public_offers`'
    inbox = messaging.inbox
    result = await db.execute(delete(inbox).where(inbox.c.consumer.in_(consumers)))
    held[inbox.name] = result.rowcount
    await db.commit()
    return held
