"""Events published by the AGORA gateway about France Travail's answers, on
pacte.france-travail.answers.v1 (key: dossier id). docs/france-travail.md.

`FranceTravailBenefitAnswered`: France Travail acknowledged a training entry certificate
(AES) and said whether the person receives unemployment benefit (then France Travail pays
the training allowance and the Region only tops it up) or not (the Region pays).
Remuneration decides the file's regime from it. No France Travail identifier, no NIR, no
names: the dossier id, the certificate and the answer.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from pacte_common.events import IntegrationEvent, Topics, register


class FranceTravailEvent(IntegrationEvent):
    topic: ClassVar[str] = Topics.FRANCE_TRAVAIL
    flow_id: UUID
    dossier_id: UUID
    person_id: UUID | None = None
    occurred_at: AwareDatetime


@register
class FranceTravailBenefitAnswered(FranceTravailEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.france-travail.benefit-answered.v1"
    certificate_id: str = Field(description="France Travail's id of the acknowledged entry certificate (AES)")
    revision: int = Field(1, description="The flow's revision: 1, then +1 each time an operator resends it")
    unemployment_benefit: bool = Field(description="The person receives unemployment benefit (AREF) during the training")
    daily_amount: Decimal | None = Field(None, description="The benefit's daily amount, when it is paid")
    benefit_end_date: date | None = Field(None, description="When the benefit rights end, when known")
    answered_at: AwareDatetime = Field(description="When France Travail answered: a later answer supersedes")
