"""Fraud flags, listed for the Region (every organisation) and for an organisation (its own)."""

from __future__ import annotations

from sqlalchemy import Select, select

from attendance.app.context import Caller
from attendance.db.models import FraudFlag


def flags_query(caller: Caller, kind: str | None = None) -> Select:
    """The flags the caller may read, unordered: the route pages them (keyset on when, then id)."""
    query = select(FraudFlag)
    if caller.organisation is not None:
        query = query.where(FraudFlag.organisation_siret == caller.organisation)
    if kind:
        query = query.where(FraudFlag.kind == kind)
    return query
