"""The beneficiary as events carry it (docs/rules.md §1.1, §7).

- `person_id`: the pseudonymous key that follows a beneficiary across services.
- `PersonProfile`: attributes used for eligibility, remuneration and indicators, in clear.
- `PersonIdentity`: names, NIR and France Travail id — personal data that only ever travels
  sealed (`identity_encrypted`, AES-GCM with the suite's key) and is opened by the services
  allowed to hold it (AGORA gateway, remuneration for the paying agency's file).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pacte_common.crypto import FieldCipher
from pacte_common.validators import mask_nir

IDENTITY_CONTEXT = "pacte.person.identity.v1"


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"


class EducationLevel(StrEnum):
    """1967 nomenclature the Pacte uses (docs/rules.md §1.1); it targets level IV and below."""

    BELOW_V = "below_v"  # infra V
    V = "v"
    IV = "iv"
    III_AND_ABOVE = "iii_and_above"


EDUCATION_LEVEL_LABELS = {
    EducationLevel.BELOW_V: "Infra V (sans diplôme)",
    EducationLevel.V: "Niveau V (CAP, BEP)",
    EducationLevel.IV: "Niveau IV (baccalauréat)",
    EducationLevel.III_AND_ABOVE: "Niveau III et plus",
}


class PersonProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    sex: Sex
    birth_date: date
    education_level: EducationLevel | None = None
    jobseeker_category: Literal["A", "B", "C", "D", "E"] | None = None
    jobseeker_registration_date: date | None = Field(None, description="Registration date as a job seeker (DELD/DETLD)")
    disabled_worker: bool = Field(False, description="RQTH / BOE")
    qpv: bool = Field(False, description="Lives in a priority urban area")
    zrr: bool = Field(False, description="Lives in a rural revitalisation zone")
    rsa_recipient: bool = False
    single_parent: bool = Field(False, description="Parent isolé")
    first_time_jobseeker: bool = Field(False, description="Primo-demandeur d'emploi")
    unemployment_benefit: bool = Field(False, description="Receives unemployment benefit (ARE/AREF)")
    unemployment_daily_amount: Decimal | None = None
    residence_departement: str | None = None


class PersonIdentity(BaseModel):
    model_config = ConfigDict(frozen=True)

    birth_name: str
    first_names: str
    usual_name: str | None = None
    nir: str | None = None
    france_travail_id: str | None = None


class MaskedIdentity(BaseModel):
    """The identity as an API shows it: names in clear to authorised callers, the NIR masked."""

    birth_name: str
    first_names: str
    usual_name: str | None = None
    nir_masked: str | None = None
    france_travail_id: str | None = None

    @classmethod
    def of(cls, identity: PersonIdentity) -> MaskedIdentity:
        return cls(
            birth_name=identity.birth_name,
            first_names=identity.first_names,
            usual_name=identity.usual_name,
            nir_masked=mask_nir(identity.nir) if identity.nir else None,
            france_travail_id=identity.france_travail_id,
        )


def seal_identity(cipher: FieldCipher, identity: PersonIdentity) -> str:
    return cipher.encrypt(identity.model_dump_json(), context=IDENTITY_CONTEXT)


def open_identity(cipher: FieldCipher, sealed: str) -> PersonIdentity:
    return PersonIdentity.model_validate_json(cipher.decrypt(sealed, context=IDENTITY_CONTEXT))
