"""Fraud flags, listed for the Region (every organisation) and for an organisation (its own)."""

from __future__ import annotations

from pacte_common.auth import OrgKind, Principal
from sqlalchemy import Select, select

from attendance.db.models import FraudFlag


def flags_query(principal: Principal, kind: str | None = None) -> Select:
    """The flags the caller may read, unordered: the route pages them (keyset on when, then id)."""
    query = select(FraudFlag)
    if principal.org_kind is OrgKind.TRAINING_ORG:
        query = query.where(FraudFlag.organisation_siret == principal.org_id)
    if kind:
        query = query.where(FraudFlag.kind == kind)
    return query
