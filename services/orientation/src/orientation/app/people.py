"""The beneficiaries behind the prescriptions: one person_id per person, whoever prescribes.

Called by the prescription's use cases (app/prescriptions.py), inside their transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pacte_common.contracts.people import (
    PersonIdentity,
    PersonProfile,
    open_identity,
    seal_identity,
)
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import Person
from orientation.db.queries import known_person
from orientation.domain.people import identity_lookup_parts


async def find_or_create_person(
    db: AsyncSession, runtime: Runtime, identity: PersonIdentity, profile: PersonProfile, at: datetime
) -> Person:
    """The same person prescribed twice (same NIR, or same identity) gets the same person_id."""
    hasher = runtime.hasher
    identity_hash = hasher.hash(
        *identity_lookup_parts(identity.birth_name, identity.first_names, profile.birth_date, profile.sex.value)
    )
    nir_hash = hasher.hash("nir", identity.nir) if identity.nir else None
    person = await db.scalar(known_person(nir_hash, identity_hash))
    if person is None:
        person = Person(
            person_id=uuid.uuid4(),
            nir_hash=nir_hash,
            identity_hash=identity_hash,
            identity_sealed=seal_identity(runtime.cipher, identity),
            has_nir=identity.nir is not None,
            created_at=at,
            updated_at=at,
        )
        db.add(person)
        return person
    _learn(runtime, person, identity, nir_hash, at)
    return person


def _learn(runtime: Runtime, person: Person, identity: PersonIdentity, nir_hash: str | None, at: datetime) -> None:
    """Keep what we learn (a NIR added later, a France Travail id), never forget a NIR."""
    known = open_identity(runtime.cipher, person.identity_sealed)
    merged = identity.model_copy(
        update={
            "nir": identity.nir or known.nir,
            "france_travail_id": identity.france_travail_id or known.france_travail_id,
            "usual_name": identity.usual_name or known.usual_name,
        }
    )
    if merged != known:
        person.identity_sealed = seal_identity(runtime.cipher, merged)
        person.updated_at = at
    if nir_hash and person.nir_hash is None:
        person.nir_hash = nir_hash
        person.has_nir = True
