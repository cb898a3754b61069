"""Trainee reviews imported from ANOTEA (docs/satisfaction.md): one row per review id."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pacte_common.db import UTCDateTime, utcnow
from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from sessions.db.models import Action, Base, TrainingSession

Mark = Numeric(3, 2)


class SatisfactionReview(Base):
    __tablename__ = "satisfaction_reviews"
    __table_args__ = (
        # An organisation's reviews per training with their marks (made for the public search, now insights': docs/public-search.md).
        Index("ix_satisfaction_reviews_organisation_marks", "organisation_siret", "action_id", "overall", "accueil", "contenu",
              "equipe_formateurs", "moyens_materiels", "accompagnement"),
    )

    review_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("actions.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("training_sessions.id"), index=True)
    organisation_siret: Mapped[str] = mapped_column(String(14))
    review_date: Mapped[date] = mapped_column(Date, index=True)
    overall: Mapped[Decimal] = mapped_column(Mark)
    accueil: Mapped[Decimal] = mapped_column(Mark)
    contenu: Mapped[Decimal] = mapped_column(Mark)
    equipe_formateurs: Mapped[Decimal] = mapped_column(Mark)
    moyens_materiels: Mapped[Decimal] = mapped_column(Mark)
    accompagnement: Mapped[Decimal] = mapped_column(Mark)
    # ANOTEA's published comment (title and text, after its moderation): the public training page.
    comment: Mapped[str | None] = mapped_column(Text)
    imported_by: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


async def existing_review_ids(db: AsyncSession, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found |= set((await db.execute(select(SatisfactionReview.review_id).where(SatisfactionReview.review_id.in_(chunk)))).scalars())
    return found


async def session_by_reference(db: AsyncSession, reference: str) -> TrainingSession | None:
    """A session by its LHEO/Carif number (`lheo_id`), else by its Pacte id."""
    row = (await db.execute(select(TrainingSession).where(TrainingSession.lheo_id == reference))).unique().scalar_one_or_none()
    if row is None:
        try:
            row = await db.get(TrainingSession, uuid.UUID(reference))
        except ValueError:
            return None
    return row


async def action_by_reference(db: AsyncSession, reference: str) -> Action | None:
    row = (await db.execute(select(Action).where(Action.lheo_id == reference))).unique().scalar_one_or_none()
    if row is None:
        try:
            row = await db.get(Action, uuid.UUID(reference))
        except ValueError:
            return None
    return row
