"""Facts versions (docs/remuneration.md, "Only what changed is reviewed"): raised in the
transaction of every change of the facts pay depends on, so a run reviews only the months
whose facts changed since a validated run settled them.

- A file's own facts (the row: snapshot, request, regime, France Travail's answer, exit,
  cancellation; and its interruptions) concern every month: `remuneration_files.facts_version`,
  raised by the mapper events below whenever such a row is written, whichever use case wrote it.
- A month's attendance (recorded, corrected, voided) concerns that month only: `month_facts`.
"""

from __future__ import annotations

import uuid

from sqlalchemy import event, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.models import InterruptionRow, MonthFacts, RemunerationFile

# Columns written with every change that are not facts of pay: bookkeeping only.
_NOT_FACTS = {"version", "facts_version", "updated_at", "created_at", "traceparent"}


@event.listens_for(RemunerationFile, "before_update")
def _file_changed(mapper, connection, file: RemunerationFile) -> None:
    state = inspect(file)
    if any(attr.history.has_changes() for attr in state.attrs if attr.key not in _NOT_FACTS):
        file.facts_version = RemunerationFile.facts_version + 1  # in SQL: concurrent raises both count


@event.listens_for(InterruptionRow, "after_insert")
@event.listens_for(InterruptionRow, "after_update")
def _interruption_changed(mapper, connection, interruption: InterruptionRow) -> None:
    connection.execute(
        update(RemunerationFile.__table__).where(RemunerationFile.__table__.c.dossier_id == interruption.dossier_id)
        .values(facts_version=RemunerationFile.__table__.c.facts_version + 1)
    )


async def month_facts_changed(db: AsyncSession, dossier_id: uuid.UUID, month: str) -> None:
    """Raises the version of one month's facts of a file (created at 1)."""
    dialect = postgresql if db.bind.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(MonthFacts).values(dossier_id=dossier_id, month=month, version=1)
    await db.execute(statement.on_conflict_do_update(
        index_elements=[MonthFacts.dossier_id, MonthFacts.month], set_={"version": MonthFacts.version + 1}))


async def month_versions(db: AsyncSession, ids: list[uuid.UUID], up_to_month: str) -> dict[uuid.UUID, dict[str, int]]:
    """Each file's months with facts of their own up to a month, and their versions."""
    rows = await db.execute(
        select(MonthFacts.dossier_id, MonthFacts.month, MonthFacts.version)
        .where(MonthFacts.dossier_id.in_(ids), MonthFacts.month <= up_to_month)
    )
    versions: dict[uuid.UUID, dict[str, int]] = {}
    for dossier_id, month, version in rows.all():
        versions.setdefault(dossier_id, {})[month] = version
    return versions
