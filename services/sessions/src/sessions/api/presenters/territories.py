"""Rendering of api/territories.py's answers."""

from __future__ import annotations

from pacte_common.errors import NotFound

from sessions.api.schemas import PlaceOut, TerritoryOut, VersionOut, VersionSummary
from sessions.db import territories as store


async def version_out(db, version: int, current: int | None) -> VersionOut:
    row = await store.version_row(db, version)
    if row is None:
        raise NotFound("No such territories version")
    places: dict[str, list[PlaceOut]] = {}
    for place in await store.places_of(db, version):
        places.setdefault(place.territory_code, []).append(PlaceOut(commune_insee=place.commune_insee, commune_name=place.commune_name, postcode=place.postcode))
    return VersionOut(
        version=row.version, source=row.source, note=row.note, created_by=row.created_by, created_at=row.created_at,
        current=version == current,
        territories=[TerritoryOut(code=t.code, name=t.name, departement=t.departement, places=places.get(t.code, []))
                     for t in await store.territories_of(db, version)],
    )


def version_summary_out(row, territories: int) -> VersionSummary:
    return VersionSummary(version=row.version, source=row.source, note=row.note, created_by=row.created_by, created_at=row.created_at,
                          territories=territories)
