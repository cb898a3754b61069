"""What became of a trainee after the exit: one event per recorded post-training outcome.

Published by the sessions service on the trainees topic, keyed by the training file
(dossier) id like every other event of the file, so a file's outcomes follow its exit in
order. The beneficiary travels as the pseudonymous `person_id` only: no name, no NIR (not
even hashed), no sealed identity — a general event carries no identity (docs/rules.md §7.4).
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum, StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from pacte_common.contracts.sessions import Pillar
from pacte_common.events import IntegrationEvent, Topics, register


class OutcomeSituation(StrEnum):
    """The person's situation at the horizon (labels in French: SITUATION_LABELS)."""

    PERMANENT_JOB = "permanent_job"  # CDI
    FIXED_TERM_6_MONTHS_PLUS = "fixed_term_6_months_plus"  # CDD de 6 mois ou plus
    SHORT_FIXED_TERM_OR_TEMPORARY = "short_fixed_term_or_temporary"  # CDD de moins de 6 mois, intérim
    BUSINESS_CREATION = "business_creation"  # création ou reprise d'entreprise
    TRAINING = "training"  # en formation
    JOB_SEEKING = "job_seeking"  # en recherche d'emploi
    INACTIVE = "inactive"
    UNKNOWN = "unknown"  # no answer / not known: counts as no response


class OutcomeSource(StrEnum):
    SURVEY = "survey"  # the CARIFOREF's survey provider
    FRANCE_TRAVAIL = "france_travail"
    TRAINING_ORGANISATION = "training_organisation"


# Which source's outcome counts when several are recorded for one file and horizon, first first.
SOURCE_PRIORITY = (OutcomeSource.SURVEY, OutcomeSource.FRANCE_TRAVAIL, OutcomeSource.TRAINING_ORGANISATION)


SITUATION_LABELS: dict[OutcomeSituation, str] = {
    OutcomeSituation.PERMANENT_JOB: "Emploi durable : CDI",
    OutcomeSituation.FIXED_TERM_6_MONTHS_PLUS: "CDD de 6 mois ou plus",
    OutcomeSituation.SHORT_FIXED_TERM_OR_TEMPORARY: "CDD de moins de 6 mois ou intérim",
    OutcomeSituation.BUSINESS_CREATION: "Création ou reprise d'entreprise",
    OutcomeSituation.TRAINING: "En formation",
    OutcomeSituation.JOB_SEEKING: "En recherche d'emploi",
    OutcomeSituation.INACTIVE: "Inactif",
    OutcomeSituation.UNKNOWN: "Situation inconnue",
}
# Lasting job (emploi durable) follows the DARES convention (docs/outcomes.md, "Situations").
LASTING_JOBS = frozenset(
    {OutcomeSituation.PERMANENT_JOB, OutcomeSituation.FIXED_TERM_6_MONTHS_PLUS, OutcomeSituation.BUSINESS_CREATION}
)
JOBS = LASTING_JOBS | {OutcomeSituation.SHORT_FIXED_TERM_OR_TEMPORARY}


class Horizon(IntEnum):
    """Months after the exit at which the situation is observed."""

    THREE_MONTHS = 3
    SIX_MONTHS = 6
    TWELVE_MONTHS = 12


@register
class OutcomeRecorded(IntegrationEvent):
    """A post-training outcome was recorded or corrected for a training file at a horizon."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.outcome-recorded.v1"
    topic: ClassVar[str] = Topics.TRAINEES

    outcome_id: UUID
    dossier_id: UUID
    person_id: UUID = Field(description="Pseudonymous person id: the single key following a beneficiary")
    session_id: UUID
    programme_code: str
    pillar: Pillar
    organisation_siret: str
    exit_date: date
    horizon_months: Horizon
    situation: OutcomeSituation
    observed_on: date = Field(description="Day the situation was observed (survey answer, data extraction)")
    source: OutcomeSource
    job_related_to_training: bool | None = Field(None, description="For a job: does it relate to the training? None when unknown")
    version: int = Field(1, ge=1, description="1 when first recorded, +1 on each correction from the same source")
    recorded_at: AwareDatetime
    actor: str
