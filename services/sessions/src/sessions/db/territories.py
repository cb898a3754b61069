"""The Region's employment-training territories: a versioned reference table.

A new version replaces the current one for every later lookup; older versions stay, so a
figure computed under an earlier version can be explained (docs/territories.md).
"""

from __future__ import annotations

from datetime import datetime

from pacte_common.db import UTCDateTime, utcnow
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from sessions.db.models import Base


class TerritoryVersion(Base):
    __tablename__ = "territory_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Territory(Base):
    __tablename__ = "territories"
    __table_args__ = (UniqueConstraint("version", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(ForeignKey("territory_versions.version"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    departement: Mapped[str | None] = mapped_column(String(3))


class TerritoryPlace(Base):
    """A commune (INSEE code) and/or postcode covered by a territory, in one version."""

    __tablename__ = "territory_places"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(ForeignKey("territory_versions.version"), index=True)
    territory_code: Mapped[str] = mapped_column(String(32))
    commune_insee: Mapped[str | None] = mapped_column(String(5))
    commune_name: Mapped[str | None] = mapped_column(String(255))
    postcode: Mapped[str | None] = mapped_column(String(5), index=True)


async def current_version(db: AsyncSession) -> int | None:
    return (await db.execute(select(func.max(TerritoryVersion.version)))).scalar_one_or_none()


async def version_row(db: AsyncSession, version: int) -> TerritoryVersion | None:
    return await db.get(TerritoryVersion, version)


async def versions(db: AsyncSession) -> list[tuple[TerritoryVersion, int]]:
    counts = select(Territory.version, func.count().label("n")).group_by(Territory.version).subquery()
    query = (
        select(TerritoryVersion, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.version == TerritoryVersion.version)
        .order_by(TerritoryVersion.version)
    )
    return [(row, n) for row, n in (await db.execute(query)).all()]


async def territories_of(db: AsyncSession, version: int) -> list[Territory]:
    query = select(Territory).where(Territory.version == version).order_by(Territory.code)
    return list((await db.execute(query)).scalars())


async def places_of(db: AsyncSession, version: int) -> list[TerritoryPlace]:
    query = select(TerritoryPlace).where(TerritoryPlace.version == version).order_by(TerritoryPlace.territory_code, TerritoryPlace.id)
    return list((await db.execute(query)).scalars())


async def places_for_postcode(db: AsyncSession, version: int, postcode: str) -> list[TerritoryPlace]:
    query = select(TerritoryPlace).where(TerritoryPlace.version == version, TerritoryPlace.postcode == postcode)
    return list((await db.execute(query)).scalars())


async def territory_codes(db: AsyncSession, version: int) -> set[str]:
    return set((await db.execute(select(Territory.code).where(Territory.version == version))).scalars())
