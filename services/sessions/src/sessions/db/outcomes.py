"""Tables and queries of post-training outcomes, facts of the trainee's file (docs/outcomes.md).
Same MetaData as `sessions.db.models`. The result indicators and trajectories read insights' copy.

No NIR here, not even hashed: matching by NIR goes through `dossiers.nir_hash`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pacte_common.db import UTCDateTime, utcnow
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    delete,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from sessions.db.models import Base, Dossier
from sessions.domain.outcomes import FileRef


class Outcome(Base):
    """What became of a trainee at a horizon after the exit, as one source tells it."""

    __tablename__ = "outcomes"
    __table_args__ = (UniqueConstraint("dossier_id", "horizon_months", "source"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    horizon_months: Mapped[int] = mapped_column(Integer)
    situation: Mapped[str] = mapped_column(String(32))
    observed_on: Mapped[date] = mapped_column(Date, index=True)
    source: Mapped[str] = mapped_column(String(32))
    job_related_to_training: Mapped[bool | None] = mapped_column(Boolean)
    import_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("outcome_imports.id"))
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}  # optimistic concurrency: every UPDATE bumps it


class OutcomeImport(Base):
    """One import file: who sent it, when, and its report (counts; no personal data)."""

    __tablename__ = "outcome_imports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    source: Mapped[str] = mapped_column(String(32))
    media_type: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    counts: Mapped[dict] = mapped_column(JSON)
    received_by: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrajectoryRead(Base):
    """Archive: the trajectory reads sessions served before trajectories moved to insights
    (docs/outcomes.md), emptied by the retention purge; insights records the reads now."""

    __tablename__ = "trajectory_reads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    reader: Mapped[str] = mapped_column(String(128))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    items_shown: Mapped[int] = mapped_column(Integer)


# ---------------------------------------------------------------- queries


def file_ref(dossier: Dossier) -> FileRef:
    return FileRef(dossier.id, dossier.person_id, dossier.status, dossier.exit_date, dossier.nir_hash)


async def files_for_matching(db: AsyncSession, dossier_ids: set[uuid.UUID], nir_hashes: set[str]) -> tuple[dict, dict]:
    """The files the lines name, by id and by NIR hash (chunked IN lists)."""
    by_id: dict[uuid.UUID, FileRef] = {}
    by_nir: dict[str, list[FileRef]] = {}
    columns = (Dossier.id, Dossier.person_id, Dossier.status, Dossier.exit_date, Dossier.nir_hash)
    for column, values in ((Dossier.id, sorted(dossier_ids)), (Dossier.nir_hash, sorted(nir_hashes))):
        for start in range(0, len(values), 500):
            rows = (await db.execute(select(*columns).where(column.in_(values[start:start + 500])))).all()
            for row in rows:
                ref = FileRef(*row)
                by_id[ref.dossier_id] = ref
                if ref.nir_hash and column is Dossier.nir_hash:
                    by_nir.setdefault(ref.nir_hash, []).append(ref)
    return by_id, by_nir


async def outcomes_of(db: AsyncSession, dossier_ids: list[uuid.UUID], source: str | None = None) -> dict[tuple, Outcome]:
    """Recorded outcomes of these files, by (dossier id, horizon, source)."""
    found: dict[tuple, Outcome] = {}
    for start in range(0, len(dossier_ids), 500):
        query = select(Outcome).where(Outcome.dossier_id.in_(dossier_ids[start:start + 500]))
        if source:
            query = query.where(Outcome.source == source)
        for outcome in (await db.execute(query)).scalars():
            found[(outcome.dossier_id, outcome.horizon_months, outcome.source)] = outcome
    return found


async def dossiers_by_ids(db: AsyncSession, dossier_ids: list[uuid.UUID]) -> dict[uuid.UUID, Dossier]:
    found: dict[uuid.UUID, Dossier] = {}
    for start in range(0, len(dossier_ids), 500):
        query = select(Dossier).where(Dossier.id.in_(dossier_ids[start:start + 500]))
        found.update({d.id: d for d in (await db.execute(query)).unique().scalars()})
    return found


async def delete_outcomes_before(db: AsyncSession, cutoff: date) -> int:
    result = await db.execute(delete(Outcome).where(Outcome.observed_on < cutoff))
    return result.rowcount or 0


async def delete_reads_before(db: AsyncSession, cutoff: datetime) -> int:
    result = await db.execute(delete(TrajectoryRead).where(TrajectoryRead.read_at < cutoff))
    return result.rowcount or 0
