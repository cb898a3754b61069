"""Which training files AGORA must be told about (docs/rules.md §6.3, from the Pacte's SI annex art. 2.1-2.3).

Every file the Region funds is in perimeter, except those of the excluded programme
categories; a programme delegated to France Travail is recorded as delegated and sent by
France Travail, not by us. The excluded set is data (a setting), the rule is here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class PerimeterStatus(StrEnum):
    IN_PERIMETER = "in_perimeter"
    EXCLUDED = "excluded"
    DELEGATED = "delegated"


PERIMETER_LABELS = {
    PerimeterStatus.IN_PERIMETER: "Dans le périmètre AGORA",
    PerimeterStatus.EXCLUDED: "Hors périmètre AGORA",
    PerimeterStatus.DELEGATED: "Délégué à France Travail",
}

# AGORA category (pacte_common.contracts.sessions.AgoraCategory) -> why it is excluded.
EXCLUSION_REASONS = {
    "health_social": "Formations sanitaires et sociales (health and social care training)",
    "psad": "Plateformes de décrochage scolaire (PSAD)",
    "prisoners": "Formation des personnes détenues (training of prisoners)",
    "crp": "Rémunération des stagiaires en CRP (rehabilitation centres)",
    "individual_aid": "Aides individuelles (individual aids)",
    "regional_vae": "Actions de VAE régionales (regional VAE)",
    "aid_outside_is": "Aides individuelles hors système d'information",
}
DEFAULT_EXCLUDED_CATEGORIES = frozenset(EXCLUSION_REASONS)
DELEGATION_REASON = "Dispositif délégué à France Travail (annexe 2.3): France Travail transmet à AGORA"


@dataclass(frozen=True)
class PerimeterDecision:
    status: PerimeterStatus
    reason_code: str | None = None  # the category, or "delegated_to_france_travail"
    reason: str | None = None

    @property
    def sendable(self) -> bool:
        return self.status is PerimeterStatus.IN_PERIMETER


def decide_perimeter(
    agora_category: str, delegated_to_france_travail: bool, excluded_categories: Collection[str]
) -> PerimeterDecision:
    """Exclusion wins over delegation: an excluded file is not AGORA's business at all."""
    category = str(agora_category)
    if category in excluded_categories:
        return PerimeterDecision(
            PerimeterStatus.EXCLUDED, category, EXCLUSION_REASONS.get(category, f"Catégorie exclue: {category}")
        )
    if delegated_to_france_travail:
        return PerimeterDecision(PerimeterStatus.DELEGATED, "delegated_to_france_travail", DELEGATION_REASON)
    return PerimeterDecision(PerimeterStatus.IN_PERIMETER)
