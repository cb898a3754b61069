"""Every amount, rate and threshold the rules use, in one value the settings build.

The rules take a `Policy` argument instead of reading settings, so tests state the figures
they rely on and a deployment changes them without code (docs/rules.md §5.7: settings or versioned data).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from remuneration.domain.rates import (
    DEFAULT_MINIMUM_WAGES,
    DEFAULT_TOP_UPS,
    DEFAULT_TRANSPORT,
    MinimumWageVersion,
    TopUpVersion,
    TransportVersion,
    in_force,
)
from remuneration.domain.scales import DEFAULT_SCALES, ScaleVersion

# Raised whenever a change of the rules' code changes what a month is worth: every month is then
# reviewed again by the next run, as when a rate changes (docs/remuneration.md, "Only what changed").
RULES_REVISION = 1


@dataclass(frozen=True)
class Policy:
    scales: tuple[ScaleVersion, ...] = DEFAULT_SCALES
    # Versioned tables (effective dates and source each): a month no version covers is refused.
    region_top_ups: tuple[TopUpVersion, ...] = DEFAULT_TOP_UPS
    transport_allowances: tuple[TransportVersion, ...] = DEFAULT_TRANSPORT
    minimum_wages: tuple[MinimumWageVersion, ...] = DEFAULT_MINIMUM_WAGES
    tension_sector_multiplier: Decimal = Decimal("1.5")
    full_time_weekly_hours: Decimal = Decimal("35")
    # The differential top-up brings the trainee to this share of the net minimum wage per day.
    differential_floor_share: Decimal = Decimal("0.80")
    # Eligibility of the differential top-up: Pacte public and a minimum training length.
    differential_excluded_education_levels: tuple[str, ...] = ("iii_and_above",)
    differential_min_training_hours: Decimal = Decimal("0")
    prior_work_record_min_months: int = 6
    # Advance at entry: this share of the first month's presumed amount.
    advance_share: Decimal = Decimal("0.75")
    # Share of a month's earned amount that recoveries (advance, overpayments) may take.
    recovery_max_share: Decimal = Decimal("1")
    # Emergency aid (fonds social d'urgence).
    emergency_aid_amount: Decimal = Decimal("250.00")
    emergency_aid_ceilings: dict[int, Decimal] = field(
        default_factory=lambda: {1: Decimal("1100"), 2: Decimal("1650"), 3: Decimal("1980"), 4: Decimal("2310")}
    )
    emergency_aid_ceiling_per_extra_person: Decimal = Decimal("330")
    emergency_aid_extended_programmes: tuple[str, ...] = ("PREPA_AVENIR", "ACCES_ENTREPRENEURS", "VISA_SANITAIRE_SOCIAL")
    emergency_aid_for_unemployment_benefit: bool = True

    def digest(self, business_timezone: str) -> str:
        """Identifies the rates and figures, the rules' revision and the business timezone (it decides
        the day, hence the month, a declaration falls on): a statement remembers it, and a month
        settled under another digest is reviewed again (docs/remuneration.md)."""
        return hashlib.sha256(f"{RULES_REVISION}|{business_timezone}|{self!r}".encode()).hexdigest()[:32]

    def top_ups_on(self, day) -> TopUpVersion:
        return in_force(self.region_top_ups, day, "region_top_ups")

    def transport_on(self, day) -> TransportVersion:
        return in_force(self.transport_allowances, day, "transport_allowance")

    def daily_floor_on(self, day) -> tuple[Decimal, str]:
        """80 % of the net minimum wage per day in force on `day`, and how it was obtained."""
        return in_force(self.minimum_wages, day, "minimum_wage").floor(self.differential_floor_share)

    def emergency_aid_ceiling(self, household_size: int) -> Decimal:
        known = max(self.emergency_aid_ceilings)
        if household_size in self.emergency_aid_ceilings:
            return self.emergency_aid_ceilings[household_size]
        if household_size > known:
            extra = household_size - known
            return self.emergency_aid_ceilings[known] + extra * self.emergency_aid_ceiling_per_extra_person
        return self.emergency_aid_ceilings[min(self.emergency_aid_ceilings)]
