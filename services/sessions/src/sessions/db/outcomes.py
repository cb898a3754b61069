"""Tables and queries of post-training outcomes, the prescriptions read model of trajectories,
and the audit of trajectory reads (docs/outcomes.md). Same MetaData as `sessions.db.models`.

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
    Text,
    UniqueConstraint,
    Uuid,
    delete,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from sessions.db.models import Action, Base, Dossier, Programme, TrainingSession
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


class PrescriptionView(Base):
    """Read model of orientation's prescriptions, fed by its events (for trajectories)."""

    __tablename__ = "trajectory_prescriptions"

    prescription_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    prescriber_kind: Mapped[str] = mapped_column(String(32))
    prescriber_code: Mapped[str] = mapped_column(String(64))
    organisation_siret: Mapped[str] = mapped_column(String(14))
    status: Mapped[str] = mapped_column(String(32))
    previous_prescription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PrescriptionStep(Base):
    """One transition of a prescription (submitted, admitted, refused with its reason…)."""

    __tablename__ = "trajectory_steps"
    __table_args__ = (UniqueConstraint("prescription_id", "status", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prescription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trajectory_prescriptions.prescription_id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class TrajectoryRead(Base):
    """Audit: who read which person's trajectory, when — the person id only, never the identity."""

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


async def exited_files(db: AsyncSession):
    """Exited files with their session, action and programme, for the result indicators."""
    query = (
        select(Dossier, TrainingSession, Action, Programme)
        .join(TrainingSession, Dossier.session_id == TrainingSession.id)
        .join(Action, TrainingSession.action_id == Action.id)
        .join(Programme, Action.programme_id == Programme.id)
        .where(Dossier.status == "exited")
    )
    return (await db.execute(query)).unique().all()


async def pillar_files(db: AsyncSession):
    query = (
        select(Dossier.person_id, Programme.pillar, Dossier.entry_date, Dossier.exit_date, Dossier.status)
        .join(TrainingSession, Dossier.session_id == TrainingSession.id)
        .join(Action, TrainingSession.action_id == Action.id)
        .join(Programme, Action.programme_id == Programme.id)
    )
    return (await db.execute(query)).all()


async def all_outcomes(db: AsyncSession) -> list[Outcome]:
    return list((await db.execute(select(Outcome))).scalars())


async def delete_outcomes_before(db: AsyncSession, cutoff: date) -> int:
    result = await db.execute(delete(Outcome).where(Outcome.observed_on < cutoff))
    return result.rowcount or 0


async def delete_prescriptions_before(db: AsyncSession, cutoff: datetime) -> int:
    stale = select(PrescriptionView.prescription_id).where(PrescriptionView.updated_at < cutoff)
    await db.execute(delete(PrescriptionStep).where(PrescriptionStep.prescription_id.in_(stale)))
    result = await db.execute(delete(PrescriptionView).where(PrescriptionView.updated_at < cutoff))
    return result.rowcount or 0


async def delete_reads_before(db: AsyncSession, cutoff: datetime) -> int:
    result = await db.execute(delete(TrajectoryRead).where(TrajectoryRead.read_at < cutoff))
    return result.rowcount or 0
