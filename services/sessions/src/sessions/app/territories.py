"""Use cases of the territories reference table: publish a version, place sessions in it."""

from __future__ import annotations

from collections.abc import Iterable

from pacte_common.contracts.sessions import SessionUpdated
from pacte_common.service import Runtime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.models import TrainingSession
from sessions.db.territories import (
    Territory,
    TerritoryPlace,
    TerritoryVersion,
    current_version,
    places_for_postcode,
    territory_codes,
)
from sessions.domain.territories import CoveredPlace, SessionPlace, resolve
from sessions.events.publish import publish_catalogue


def place_of(session: TrainingSession) -> SessionPlace:
    """Where a session is held, as far as the Pacte knows: its action's training place."""
    action = session.action
    address = (action.lheo_details or {}).get("adresse") or {}
    return SessionPlace(postcode=address.get("codepostal"), town=address.get("ville"), action_territory_code=action.territory_code)


async def assign_territories(db: AsyncSession, sessions: Iterable[TrainingSession]) -> list[TrainingSession]:
    """Sets each session's `territory_code` from the current version (no commit: the caller's);
    returns the sessions whose territory changed.

    A session not yet inserted gets its code before its INSERT (no autoflush meanwhile), so a
    new session is written once, at version 1.
    """
    changed = []
    with db.no_autoflush:
        version = await current_version(db)
        known = await territory_codes(db, version) if version is not None else set()
        for session in sessions:
            if version is None:
                code = None
            else:
                place = place_of(session)
                covered = await places_for_postcode(db, version, place.postcode) if place.postcode else []
                code = resolve(place, [CoveredPlace(c.territory_code, c.commune_name, c.postcode) for c in covered], known)
            if session.territory_code != code:
                session.territory_code = code
                changed.append(session)
    await db.flush()
    return changed


async def publish_version(db: AsyncSession, runtime: Runtime, *, source: str, note: str | None, territories: list[dict], actor: str) -> int:
    """Adds a version (the current one from now on), places every session in it, commits. A
    session whose territory changed is published (`session.updated`): the read side filters and
    compares by it (docs/insights.md)."""
    version = (await current_version(db) or 0) + 1
    db.add(TerritoryVersion(version=version, source=source, note=note, created_by=actor))
    await db.flush()
    for territory in territories:
        db.add(Territory(version=version, code=territory["code"], name=territory["name"], departement=territory.get("departement")))
        for place in territory["places"]:
            db.add(TerritoryPlace(version=version, territory_code=territory["code"], **place))
    await db.flush()
    sessions = (await db.execute(select(TrainingSession))).unique().scalars()
    for session in await assign_territories(db, sessions):
        await publish_catalogue(db, runtime, SessionUpdated, session)
    await db.commit()
    return version
