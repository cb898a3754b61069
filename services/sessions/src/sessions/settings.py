
from pacte_common.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class SessionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_SESSIONS_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "sessions"
    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./.data/sessions.db"

    # Declarations (entry, interruption, exit) later than this many working days are flagged
    # (Code du travail L6121-5, decree 2017-1019: 3 working days).
    declaration_delay_working_days: int = 3
    holiday_country: str = "FR"
    holiday_subdivision: str | None = None

    # Départements of the Pays de la Loire the offer may sit in.
    departements: frozenset[str] = frozenset({"44", "49", "53", "72", "85"})
    lheo_max_bytes: int = 10 * 1024 * 1024
    # LHEO (docs/lheo.md): the Region's code in LHEO's dictionary of financers (2: Conseil
    # régional), whose nb-places-financees give a session's places before any other's.
    lheo_region_financer_code: str = "2"
    # Feeds pulled on a schedule (the Carif-Oref's LHEO file at a URL): off without URLs or with
    # an interval of 0. Each run is kept (GET /catalogue/lheo/pulls).
    lheo_feed_urls: list[str] = Field(default_factory=list)
    lheo_feed_interval_s: float = Field(0.0, ge=0, description="0: feeds are not pulled")
    lheo_feed_timeout_s: float = Field(60.0, gt=0)

    page_size_default: int = Field(50, ge=1, le=500)
    prescriptions_consumer_name: str = "prescriptions"
    # Off for a process that serves HTTP and relays the outbox but leaves consuming to another.
    consume_prescriptions: bool = True

    # Post-training outcomes (docs/outcomes.md). Outcomes are personal data kept
    # for the Region's public-interest mission (RGPD art. 6(1)(e)) no longer than needed
    # (art. 5(1)(e)): purged once observed this many months ago.
    outcome_retention_months: int = Field(36, ge=1)
    # The archive of the trajectory reads served before trajectories moved to insights.
    trajectory_audit_retention_months: int = Field(12, ge=1)
    outcome_purge_interval_hours: float = Field(24.0, ge=0, description="0: no periodic purge (the API still purges)")
    outcome_import_max_bytes: int = 10 * 1024 * 1024
    # An ANOTEA import holds up to 5,000 reviews (its schema's maxItems): about 1–5 MB.
    satisfaction_import_max_bytes: int = 10 * 1024 * 1024
