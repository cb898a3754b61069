"""Which remuneration regime applies when the file enters (docs/rules.md §5.1)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from remuneration.domain.policy import Policy


class Regime(StrEnum):
    UNEMPLOYMENT_INSURANCE = "unemployment_insurance"
    REGION = "region"
    NONE = "none"


REGIME_LABELS = {
    Regime.UNEMPLOYMENT_INSURANCE: "Assurance chômage (AREF) et complément différentiel Région",
    Regime.REGION: "Rémunération publique des stagiaires (Région)",
    Regime.NONE: "Sans rémunération",
}


@dataclass(frozen=True)
class RegimeFacts:
    unemployment_benefit: bool
    programme_remuneration_approved: bool
    programme_code: str
    education_level: str | None
    training_hours: Decimal


@dataclass(frozen=True)
class RegimeDecision:
    regime: Regime
    reason: str
    differential_eligible: bool = False

    @property
    def paying(self) -> bool:
        return self.regime is not Regime.NONE


def decide_regime(facts: RegimeFacts, policy: Policy) -> RegimeDecision:
    if facts.unemployment_benefit:
        refusals = []
        if facts.education_level in policy.differential_excluded_education_levels:
            refusals.append(f"education level {facts.education_level} is outside the Pacte public")
        if facts.training_hours < policy.differential_min_training_hours:
            refusals.append(
                f"training of {facts.training_hours} h is shorter than {policy.differential_min_training_hours} h"
            )
        if refusals:
            return RegimeDecision(
                Regime.UNEMPLOYMENT_INSURANCE,
                "receives unemployment benefit (AREF paid by France Travail); no Region differential top-up: "
                + "; ".join(refusals),
                differential_eligible=False,
            )
        return RegimeDecision(
            Regime.UNEMPLOYMENT_INSURANCE,
            "receives unemployment benefit (AREF paid by France Travail); the Region adds the differential "
            "top-up up to 80% of the net minimum wage per day",
            differential_eligible=True,
        )
    if facts.programme_remuneration_approved:
        return RegimeDecision(
            Regime.REGION,
            f"no unemployment benefit and programme {facts.programme_code} is approved for remuneration "
            "(agréé rémunération): the Region pays the public trainee remuneration",
        )
    return RegimeDecision(
        Regime.NONE,
        f"no unemployment benefit and programme {facts.programme_code} is not approved for remuneration",
    )
