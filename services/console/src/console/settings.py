"""Console settings (env prefix PACTE_CONSOLE_): where the services are, the session cookie."""

from __future__ import annotations

from typing import Self

from pacte_common.settings import (
    DEV_ISSUER_URL,
    DEVELOPMENT,
    ObservabilitySettings,
    TokenClaimSettings,
    shared_variable,
)
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

# Development-only cookie-signing secret: real deployments set PACTE_CONSOLE_SESSION_SECRET.
DEV_SESSION_SECRET = "pacte-dev-only-console-session-secret-change-me"


class ConsoleSettings(TokenClaimSettings, ObservabilitySettings):
    """The claim names and audience template are the services' own settings (shared variables)."""

    model_config = SettingsConfigDict(env_prefix="PACTE_CONSOLE_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "console"
    # "development" (as `pacte up` sets it) allows the development cookie secret and sign-in.
    environment: str = Field(default_factory=lambda: shared_variable("environment", "production"))
    host: str = "127.0.0.1"
    port: int = 8006

    # The services the console reads (it owns no business data: a backend-for-frontend).
    orientation_url: str = "http://127.0.0.1:8001"
    sessions_url: str = "http://127.0.0.1:8002"
    remuneration_url: str = "http://127.0.0.1:8003"
    agora_gateway_url: str = "http://127.0.0.1:8004"
    attendance_url: str = "http://127.0.0.1:8008"
    insights_url: str = "http://127.0.0.1:8010"
    request_timeout_s: float = 15.0
    # At most this many calls to one service at once for a page (monthly series, pay months).
    max_parallel_calls: int = 6

    # The operator's token is kept server-side; the signed, HTTP-only, SameSite=strict cookie
    # holds only the session id. A session ends at sign-out, after session_idle_s without a
    # request, or session_max_age_s after sign-in; at most max_sessions at once (oldest ended).
    session_secret: SecretStr = SecretStr(DEV_SESSION_SECRET)
    session_cookie: str = "pacte_console"
    session_max_age_s: int = Field(8 * 3600, gt=0)
    session_idle_s: float = Field(30 * 60, gt=0)
    max_sessions: int = Field(1000, ge=1)
    cookie_https_only: bool = False
    # Strict-Transport-Security max-age; 0 = none. Shared with the services: PACTE_HSTS_MAX_AGE_S.
    hsts_max_age_s: int = Field(default_factory=lambda: int(shared_variable("hsts_max_age_s", "0")), ge=0)
    # The "sign in as the Region" button: in development only (PACTE_ENVIRONMENT=development, as
    # `pacte up` sets it), with a token from the development issuer (PACTE_JWT_ISSUER).
    dev_sign_in: bool = Field(default_factory=lambda: shared_variable("environment", "production") == DEVELOPMENT)
    dev_issuer_url: str = Field(default_factory=lambda: shared_variable("jwt_issuer") or DEV_ISSUER_URL)

    business_timezone: str = "Europe/Paris"
    # Monthly series (entries, pay months) shown when no period is chosen, and the longest allowed.
    default_months_shown: int = 12
    max_months_shown: int = 36
    # AGORA flows scanned for the "flows over time" chart (pages of 100).
    agora_flows_scanned: int = 2000
    # Pay statements scanned per month to count adjustments (pages of 100).
    pay_statements_scanned: int = 2000
    # Debts shown per page (the list is paged by the remuneration service's cursor).
    debts_page_size: int = 50
    # Sessions per page of the attendance sheets (the attendance service's cursor), fraud flags listed.
    attendance_page_size: int = Field(20, ge=1, le=100)
    attendance_flags_shown: int = Field(50, ge=1, le=100)  # one page of the attendance service's flags
    # The largest file the imports page forwards (read in memory; each service has its own limit too).
    import_max_bytes: int = Field(50 * 1024 * 1024, ge=1)
    # While a back-fill runs, the imports page reloads itself every this many seconds (meta refresh).
    backfill_refresh_s: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _no_development_secrets_outside_development(self) -> Self:
        if self.environment != DEVELOPMENT:
            if self.session_secret.get_secret_value() == DEV_SESSION_SECRET:
                raise ValueError("session_secret is the development secret: set PACTE_CONSOLE_SESSION_SECRET (pacte keygen)")
            if self.dev_sign_in:
                raise ValueError("dev_sign_in is for development only (PACTE_ENVIRONMENT=development)")
        return self

    def service_urls(self) -> dict[str, str]:
        return {
            "orientation": self.orientation_url,
            "sessions": self.sessions_url,
            "remuneration": self.remuneration_url,
            "agora-gateway": self.agora_gateway_url,
            "attendance": self.attendance_url,
            "insights": self.insights_url,
        }
