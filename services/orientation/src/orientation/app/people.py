"""The beneficiaries behind the prescriptions: one person_id per person, whoever prescribes.

Called by the prescription's use cases (app/prescriptions.py), inside their transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pacte_common.contracts.people import (
    PersonIdentity,
    PersonProfile,
    open_identity,
    seal_identity,
)
from pacte_common.service import Runtime
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import Person
from orientation.domain.people import identity_lookup_parts


def person_hashes(runtime: Runtime, identity: PersonIdentity, profile: PersonProfile) -> tuple[str | None, str]:
    """(NIR hash or None, identity hash): how a person is looked up (keyed hashes only)."""
    hasher = runtime.hasher
    identity_hash = hasher.hash(
        *identity_lookup_parts(identity.birth_name, identity.first_names, profile.birth_date, profile.sex.value)
    )
    return (hasher.hash("nir", identity.nir) if identity.nir else None), identity_hash


_INSERT_PERSON = Person.__table__.insert()


async def settle_person(
    db: AsyncSession, runtime: Runtime, identity: PersonIdentity, hashes: tuple[str | None, str], known: Any, at: datetime
) -> Person:
    """The same person prescribed twice (same NIR, or same identity) gets the same person_id.
    Given what the look-up found (`known`: person_id, nir_hash, identity_sealed, has_nir, or a
    None person_id; db/queries.submission_targets), in Core statements: one INSERT for a new
    person, one UPDATE for a known one only when we learn something. Returns a transient Person
    (not in the session) carrying the stored values."""
    nir_hash, identity_hash = hashes
    if known is None or known.person_id is None:
        person = Person(person_id=uuid.uuid4(), nir_hash=nir_hash, identity_hash=identity_hash,
                        identity_sealed=seal_identity(runtime.cipher, identity), has_nir=identity.nir is not None,
                        created_at=at, updated_at=at)
        await db.execute(_INSERT_PERSON, {column: getattr(person, column) for column in _PERSON_COLUMNS})
        return person
    person = Person(person_id=known.person_id, nir_hash=known.nir_hash, identity_hash=identity_hash,
                    identity_sealed=known.identity_sealed, has_nir=known.has_nir)
    before = (person.identity_sealed, person.nir_hash)
    _learn(runtime, person, identity, nir_hash, at)
    if (person.identity_sealed, person.nir_hash) != before:
        changes = {"identity_sealed": person.identity_sealed, "nir_hash": person.nir_hash, "has_nir": person.has_nir}
        if person.identity_sealed != before[0]:
            changes["updated_at"] = at
        await db.execute(update(Person.__table__).where(Person.__table__.c.person_id == person.person_id).values(**changes))
    return person


_PERSON_COLUMNS = ("person_id", "nir_hash", "identity_hash", "identity_sealed", "has_nir", "created_at", "updated_at")


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
