"""Every amount, rate and threshold the rules use, in one value the settings build.

The rules take a `Policy` argument instead of reading settings, so tests state the figures
they rely on and a deployment changes them without code (DOMAIN.md §5: "settings or data").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from remuneration.domain.scales import DEFAULT_SCALES, ScaleVersion


@dataclass(frozen=True)
class RegionTopUps:
    """Region top-ups (seed III.2); only the single most favourable one applies."""

    jobseeker: Decimal = Decimal("15.00")
    first_time_jobseeker: Decimal = Decimal("65.00")
    single_parent: Decimal = Decimal("350.00")


@dataclass(frozen=True)
class Policy:
    scales: tuple[ScaleVersion, ...] = DEFAULT_SCALES
    top_ups: RegionTopUps = field(default_factory=RegionTopUps)
    tension_sector_multiplier: Decimal = Decimal("1.5")
    full_time_weekly_hours: Decimal = Decimal("35")
    # 80% of the net minimum wage per day, by calendar year (seed III.2: 30.25 € in 2019).
    # A year without a figure uses the latest earlier year's (or the earliest known).
    differential_daily_floor_by_year: dict[int, Decimal] = field(default_factory=lambda: {2019: Decimal("30.25")})
    # Eligibility of the differential top-up: Pacte public and a minimum training length.
    differential_excluded_education_levels: tuple[str, ...] = ("iii_and_above",)
    differential_min_training_hours: Decimal = Decimal("0")
    # Transport allowance: a flat monthly amount, doubled by the Pacte (multiplier).
    transport_allowance_monthly: Decimal = Decimal("20.00")
    transport_allowance_multiplier: Decimal = Decimal("2")
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

    @property
    def transport_allowance_full(self) -> Decimal:
        return self.transport_allowance_monthly * self.transport_allowance_multiplier

    def differential_daily_floor(self, year: int) -> tuple[int, Decimal]:
        known = self.differential_daily_floor_by_year
        if not known:
            raise LookupError("no daily minimum-wage figure configured")
        earlier = [y for y in known if y <= year]
        # The explanation names the year used, so an operator sees when a figure is missing.
        chosen = max(earlier) if earlier else min(known)
        return chosen, self.differential_daily_floor_by_year[chosen]

    def emergency_aid_ceiling(self, household_size: int) -> Decimal:
        known = max(self.emergency_aid_ceilings)
        if household_size in self.emergency_aid_ceilings:
            return self.emergency_aid_ceilings[household_size]
        if household_size > known:
            extra = household_size - known
            return self.emergency_aid_ceilings[known] + extra * self.emergency_aid_ceiling_per_extra_person
        return self.emergency_aid_ceilings[min(self.emergency_aid_ceilings)]
