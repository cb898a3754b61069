"""Fraud flags, listed for the Region (every organisation) and for an organisation (its own)."""

from __future__ import annotations

from pacte_common.auth import OrgKind, Principal
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.db.models import FraudFlag


async def list_flags(db: AsyncSession, principal: Principal, kind: str | None = None) -> list[FraudFlag]:
    query = select(FraudFlag).order_by(FraudFlag.at.desc()).limit(500)
    if principal.org_kind is OrgKind.TRAINING_ORG:
        query = query.where(FraudFlag.organisation_siret == principal.org_id)
    if kind:
        query = query.where(FraudFlag.kind == kind)
    return list((await db.scalars(query)).all())
