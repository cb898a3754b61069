from dataclasses import fields
from decimal import Decimal

from pacte_common.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from remuneration.domain.policy import Policy
from remuneration.domain.rates import MinimumWageVersion, TopUpVersion, TransportVersion
from remuneration.domain.scales import DEFAULT_SCALES, ScaleVersion

_DEFAULT = Policy()


class RemunerationSettings(ServiceSettings):
    """Every amount, rate and threshold of docs/rules.md §5 is here (env PACTE_REMUNERATION_<NAME>, JSON for lists)."""

    model_config = SettingsConfigDict(env_prefix="PACTE_REMUNERATION_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "remuneration"
    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///./.data/remuneration.db"

    # Scales as data: add a version (with its effective date) here, no code change.
    scales: tuple[ScaleVersion, ...] = DEFAULT_SCALES
    # Versioned rate tables (JSON lists; each version: effective_from, effective_until, figures, source).
    # A month that a table does not cover is refused by name (409 missing-rate), never paid with another figure.
    region_top_ups: tuple[TopUpVersion, ...] = _DEFAULT.region_top_ups
    transport_allowances: tuple[TransportVersion, ...] = _DEFAULT.transport_allowances
    minimum_wages: tuple[MinimumWageVersion, ...] = _DEFAULT.minimum_wages
    differential_floor_share: Decimal = _DEFAULT.differential_floor_share
    tension_sector_multiplier: Decimal = _DEFAULT.tension_sector_multiplier
    full_time_weekly_hours: Decimal = _DEFAULT.full_time_weekly_hours
    differential_excluded_education_levels: tuple[str, ...] = _DEFAULT.differential_excluded_education_levels
    differential_min_training_hours: Decimal = _DEFAULT.differential_min_training_hours
    prior_work_record_min_months: int = _DEFAULT.prior_work_record_min_months
    advance_share: Decimal = _DEFAULT.advance_share
    recovery_max_share: Decimal = _DEFAULT.recovery_max_share
    emergency_aid_amount: Decimal = _DEFAULT.emergency_aid_amount
    emergency_aid_ceilings: dict[int, Decimal] = Field(default_factory=lambda: dict(_DEFAULT.emergency_aid_ceilings))
    emergency_aid_ceiling_per_extra_person: Decimal = _DEFAULT.emergency_aid_ceiling_per_extra_person
    emergency_aid_extended_programmes: tuple[str, ...] = _DEFAULT.emergency_aid_extended_programmes
    emergency_aid_for_unemployment_benefit: bool = _DEFAULT.emergency_aid_for_unemployment_benefit

    # Monthly runs read files by pages of this size (streaming: never every file in memory).
    run_page_size: int = 1000

    def policy(self) -> Policy:
        return Policy(**{f.name: getattr(self, f.name) for f in fields(Policy)})
