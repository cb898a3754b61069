"""Emergency aid (fonds social d'urgence): granted or refused, with the reason (docs/rules.md §5.4)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from remuneration.domain.money import ZERO, euros
from remuneration.domain.policy import Policy
from remuneration.domain.regime import Regime


@dataclass(frozen=True)
class AidCase:
    regime: Regime
    programme_code: str
    unemployment_benefit: bool
    household_size: int
    monthly_resources: Decimal
    already_granted: bool
    in_training: bool


@dataclass(frozen=True)
class AidDecision:
    granted: bool
    reason_code: str
    reason: str
    amount: Decimal


def decide_emergency_aid(case: AidCase, policy: Policy) -> AidDecision:
    def refuse(code: str, reason: str) -> AidDecision:
        return AidDecision(False, code, reason, ZERO)

    if case.already_granted:
        return refuse("already_granted", "Emergency aid is granted once per training file; this file already had it")
    if not case.in_training:
        return refuse("not_in_training", "The trainee has not entered training, or has left it")
    covered = (
        case.regime is Regime.REGION
        or case.programme_code in policy.emergency_aid_extended_programmes
        or (case.unemployment_benefit and policy.emergency_aid_for_unemployment_benefit)
    )
    if not covered:
        return refuse(
            "programme_not_covered",
            f"Programme {case.programme_code} is neither approved for remuneration nor among the programmes the "
            "Pacte extended the aid to, and the trainee receives no unemployment benefit",
        )
    ceiling = policy.emergency_aid_ceiling(case.household_size)
    if case.monthly_resources > ceiling:
        return refuse(
            "resources_above_ceiling",
            f"Monthly resources {euros(case.monthly_resources)} are above the ceiling of {euros(ceiling)} "
            f"for a household of {case.household_size}",
        )
    return AidDecision(
        True,
        "granted",
        f"Covered programme and resources {euros(case.monthly_resources)} within the ceiling of {euros(ceiling)} "
        f"for a household of {case.household_size}: {euros(policy.emergency_aid_amount)} paid in the next batch",
        policy.emergency_aid_amount,
    )
