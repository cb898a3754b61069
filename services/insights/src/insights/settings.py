from decimal import Decimal

from pacte_common.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from insights.domain.indicators import IndicatorPolicy


class InsightsSettings(ServiceSettings):
    """The read side (env PACTE_INSIGHTS_<NAME>): docs/insights.md."""

    model_config = SettingsConfigDict(env_prefix="PACTE_INSIGHTS_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "insights"
    port: int = 8010
    database_url: str = "sqlite+aiosqlite:///./.data/insights.db"

    # Off for a process that serves HTTP only (its consumers run elsewhere, or a rebuild runs).
    consume: bool = Field(True, description="Off for a process that serves HTTP only")

    # Indicators (docs/rules.md §8).
    indicator_disabled_target: Decimal = Decimal("0.15")
    indicator_senior_age: int = 50
    indicator_young_age_limit: int = 26
    indicator_long_term_months: int = 12
    indicator_low_qualified_levels: frozenset[str] = frozenset({"below_v", "v", "iv"})

    # Result indicators (docs/outcomes.md, "Result indicators").
    outcome_min_respondents: int = Field(10, ge=1, description="Below this many answers a rate is flagged low_base")
    pillar_flow_window_months: int = Field(6, ge=1)
    # Retention (docs/outcomes.md, "Personal data and retention"): outcomes observed this many
    # months ago (and prescriptions untouched as long) are deleted, as sessions deletes its own;
    # the audit of trajectory reads is kept its own period.
    outcome_retention_months: int = Field(36, ge=1)
    trajectory_audit_retention_months: int = Field(12, ge=1)
    retention_purge_interval_hours: float = Field(24.0, ge=0, description="0: no periodic purge (the API still purges)")

    # The public search of the offer (docs/public-search.md). Statistical confidentiality: no mean mark, number
    # of reviews, share in employment or population computed on fewer people than this is shown.
    public_min_base: int = Field(10, ge=1, description="Fewest people a public figure may be computed on")
    public_page_size_default: int = Field(20, ge=1, le=100)
    public_radius_km_default: float = Field(30.0, gt=0, le=200)
    public_radius_km_max: float = Field(200.0, gt=0, le=200, description="Largest radius a query may ask")
    public_comments_max: int = Field(10, ge=0, description="Published review comments on a training's page")
    public_cache_max_age_s: int = Field(60, ge=0, description="Cache-Control max-age of the public answers")

    def indicator_policy(self) -> IndicatorPolicy:
        """The indicators' definitions of the target publics, from these settings."""
        return IndicatorPolicy(
            disabled_target=self.indicator_disabled_target,
            senior_age=self.indicator_senior_age,
            young_age_limit=self.indicator_young_age_limit,
            long_term_months=self.indicator_long_term_months,
            low_qualified_levels=frozenset(self.indicator_low_qualified_levels),
        )
