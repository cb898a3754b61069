"""The Region finds a person by last name and birth date (docs/security.md, "Finding a person").

Identities are sealed at rest, so the birth date (exact, from the prescriptions' profiles) picks
the candidates and their names are opened and compared here. Every search is audited in the same
transaction as its answer: who, when, the criteria as typed, sealed with the service's cipher
(as identities are) and shown masked; never a NIR.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from pacte_common.auth import Principal
from pacte_common.contracts.people import PersonIdentity, open_identity
from pacte_common.crypto import FieldCipher
from pacte_common.service import Runtime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import Person, PersonSearch, Prescription
from orientation.domain.people import name_matches

# The associated data of the sealed criteria: a sealed value opens only as what it was sealed for.
CRITERIA_CONTEXT = "orientation.person-search.criteria.v1"


@dataclass(frozen=True)
class Criteria:
    last_name: str
    birth_date: date


def seal_criteria(cipher: FieldCipher, last_name: str, birth_date: date) -> str:
    return cipher.encrypt(json.dumps({"last_name": last_name, "birth_date": birth_date.isoformat()}),
                          context=CRITERIA_CONTEXT)


def open_criteria(cipher: FieldCipher, sealed: str) -> Criteria:
    criteria = json.loads(cipher.decrypt(sealed, context=CRITERIA_CONTEXT))
    return Criteria(criteria["last_name"], date.fromisoformat(criteria["birth_date"]))


@dataclass(frozen=True)
class Found:
    person: Person
    identity: PersonIdentity
    prescriptions: list[Prescription]


async def find_persons(db: AsyncSession, runtime: Runtime, principal: Principal, last_name: str, birth_date: date,
                       now: datetime) -> tuple[list[Found], bool]:
    """The persons born that day whose name starts with `last_name`, with their prescriptions
    (newest first); and whether more were found than the answer holds."""
    born_that_day = select(Prescription.person_id).where(Prescription.profile["birth_date"].as_string() == birth_date.isoformat())
    persons = (await db.scalars(select(Person).where(Person.person_id.in_(born_that_day)).order_by(Person.person_id))).all()
    matching = []
    for person in persons:
        identity = open_identity(runtime.cipher, person.identity_sealed)
        if name_matches(last_name, identity.birth_name, identity.usual_name):
            matching.append((person, identity))
    db.add(PersonSearch(at=now, actor=f"{principal.describe()} {principal.subject}",
                        criteria_sealed=seal_criteria(runtime.cipher, last_name, birth_date), found=len(matching)))
    limit = runtime.settings.person_search_max_results
    shown = matching[:limit]
    prescriptions = (await db.scalars(select(Prescription).where(Prescription.person_id.in_([p.person_id for p, _ in shown]))
                                      .order_by(Prescription.created_at.desc(), Prescription.id))).all()
    found = [Found(person, identity, [x for x in prescriptions if x.person_id == person.person_id]) for person, identity in shown]
    await db.commit()
    return found, len(matching) > limit


def searches_query():
    return select(PersonSearch)
