"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only secrets: `pacte up` and the tests use them (PACTE_ENVIRONMENT=development);
# a service refuses to start with them in any other environment (docs/security.md).
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktMzItYnl0ZXMtZW5jcnlwdGlvbi1rZXk="  # base64 of 32 bytes
DEV_HASH_KEY = "pacte-dev-only-lookup-hash-key"
DEVELOPMENT = "development"
# The dev token issuer of the embedded default (pacte_tools.dev_issuer, started by `pacte up`).
DEV_ISSUER_URL = "http://127.0.0.1:8007"
# Its key ids start so: a verifier outside development refuses them whatever JWKS it is given.
DEV_KID_PREFIX = "pacte-dev-"
# Bearer tokens are asymmetric JWTs only: a shared secret would let every verifier mint tokens.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


def shared_variable(name: str, default: str = "") -> str:
    """A deployment-wide variable (PACTE_<NAME>), read when the service's own PACTE_<SERVICE>_<NAME> is unset."""
    return os.environ.get(f"PACTE_{name.upper()}", default)


# A service's audience: `{service}` is replaced by its name. May be a URI, as RFC 8707 resource
# indicators are (e.g. https://pacte.region.example/{service}).
DEFAULT_AUDIENCE_TEMPLATE = "pacte-{service}"
SERVICE_PLACEHOLDER = "{service}"


def service_audience(service_name: str, template: str | None = None) -> str:
    """The `aud` a service's tokens carry: each service accepts only tokens issued for it."""
    template = template or shared_variable("jwt_audience_template", DEFAULT_AUDIENCE_TEMPLATE)
    return template.replace(SERVICE_PLACEHOLDER, service_name)


class TokenClaimSettings(BaseSettings):
    """How tokens name the partner and the services they are for: one configuration for every
    service, the console and the dev issuer (PACTE_JWT_ORG_KIND_CLAIM, PACTE_JWT_ORG_ID_CLAIM,
    PACTE_JWT_AUDIENCE_TEMPLATE; docs/security.md)."""

    # Claims naming the partner (a Keycloak "hardcoded claim" mapper per client sets them).
    jwt_org_kind_claim: str = Field(default_factory=lambda: shared_variable("jwt_org_kind_claim", "org_kind"), min_length=1)
    jwt_org_id_claim: str = Field(default_factory=lambda: shared_variable("jwt_org_id_claim", "org_id"), min_length=1)
    jwt_audience_template: str = Field(
        default_factory=lambda: shared_variable("jwt_audience_template", DEFAULT_AUDIENCE_TEMPLATE), pattern=r"\{service\}"
    )

    def audience_of(self, service_name: str) -> str:
        return service_audience(service_name, self.jwt_audience_template)


class ObservabilitySettings(BaseSettings):
    """Who may read `/metrics` and `/health/status` (docs/security.md, "Exposure"): anyone when both
    are empty; else a caller from one of the networks or bearing the token. Shared by every
    service and the console, which reads them for its bus page (PACTE_OBSERVABILITY_NETWORKS,
    comma-separated CIDRs; PACTE_OBSERVABILITY_TOKEN)."""

    observability_networks: list[str] = Field(
        default_factory=lambda: [n.strip() for n in shared_variable("observability_networks").split(",") if n.strip()]
    )
    observability_token: SecretStr | None = Field(
        default_factory=lambda: SecretStr(token) if (token := shared_variable("observability_token")) else None
    )


class BusSettings(BaseSettings):
    """How a service reaches Kafka (or the embedded Tansu broker)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    # Prefix put before every topic name: isolates environments (and tests) sharing a cluster.
    topic_namespace: str = ""
    topic_partitions: int = 4
    # Consumers fetch with a short wait while messages flow (Tansu looks for messages every quarter
    # of a fetch's wait: ≤ 25 ms per hop; a shorter wait cost more CPU in fetches than the events
    # did, docs/runbook.md "Bus timings"), and with the idle wait after idle_after_s without any:
    # the first message after a quiet spell then waits up to ~idle_fetch_max_wait_ms / 4 more.
    fetch_max_wait_ms: int = 100
    idle_fetch_max_wait_ms: int = 2000
    idle_after_s: float = 2.0
    request_timeout_ms: int = 10_000
    consumer_max_attempts: int = 5
    # A consumer that stops heartbeating (its instance died) loses its partitions to the group's
    # other members after this long; heartbeats go every sixth of it (docs/scaling.md).
    consumer_session_timeout_ms: int = Field(6_000, ge=6_000)
    consumer_retry_backoff_s: float = 0.2
    # The relay wakes at once on a commit of its own process; this poll finds rows written by
    # other processes (operator commands, other instances).
    relay_poll_interval_s: float = 5.0
    relay_batch_size: int = 500
    relay_max_backoff_s: float = 10.0
    # A relay step (a batch sent and marked, a look at the broker) that has not ended after this
    # long is abandoned as a failure and the producer made anew: a broker killed mid-send can
    # leave an aiokafka send waiting for ever (docs/runbook.md, "The broker lost its data").
    relay_step_timeout_s: float = Field(30.0, gt=0)
    # Sent outbox rows are kept this long: what a relay re-publishes when it finds a new broker
    # incarnation or its topics gone (see the runbook). Covers a broker outage up to this long.
    outbox_retention_hours: int = 24 * 7
    # How often relays and consumers compare the broker's cluster id and topics with what they
    # last saw (also checked on every (re)connection and partition assignment).
    incarnation_check_interval_s: float = 15.0
    # Transient failures (database down or locked, broker timeouts) are retried for ever,
    # with exponential backoff from consumer_retry_backoff_s up to this cap.
    transient_retry_max_backoff_s: float = 30.0
    # `pacte bus replay-dlq`: how long to wait for the consumers to handle what was replayed.
    replay_settle_timeout_s: float = 60.0


class ServiceSettings(TokenClaimSettings, ObservabilitySettings):
    """Base of every service's settings. Subclasses set `env_prefix` (PACTE_<SERVICE>_)."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    service_name: str = "pacte"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite+aiosqlite:///./.data/pacte.db"
    database_echo: bool = False
    # PostgreSQL connections a process keeps (and may open beyond, under load): with N instances
    # of every service, N x services x (pool + overflow) must stay below the server's max_connections.
    database_pool_size: int = Field(10, ge=1)
    database_max_overflow: int = Field(10, ge=0)
    # A check of each PostgreSQL connection before each transaction (three round trips); off, a
    # dead connection fails one statement, which is retried (pacte_common.db.create_engine).
    database_pool_pre_ping: bool = False
    bus: BusSettings = Field(default_factory=BusSettings)
    # Background tasks (outbox relay, consumers, jobs) can be switched off for a process
    # that only serves HTTP; the relay and consumers must then run elsewhere.
    run_background_tasks: bool = True

    # "development" allows the built-in development keys and the dev token issuer; in any other
    # environment (the default) the service refuses to start with them. Shared: PACTE_ENVIRONMENT.
    environment: str = Field(default_factory=lambda: shared_variable("environment", "production"))

    # Bearer tokens: asymmetric JWTs from an OpenID provider, verified against its JWKS
    # (docs/security.md). The issuer and the JWKS are shared by a deployment's services
    # (PACTE_JWT_ISSUER, PACTE_JWT_JWKS_URL, PACTE_JWT_JWKS); empty in development = the dev issuer.
    jwt_issuer: str = Field(default_factory=lambda: shared_variable("jwt_issuer"))
    jwt_jwks_url: str = Field(default_factory=lambda: shared_variable("jwt_jwks_url"))
    # The JWKS itself, inline JSON or a file path (tests, air-gapped sites); the URL wins when both are set.
    jwt_jwks: str = Field(default_factory=lambda: shared_variable("jwt_jwks"))
    # Expected `aud` (a name or a URI); empty = jwt_audience_template for this service
    # (pacte-<service_name>), so a token for one service is refused by the others.
    jwt_audience: str = ""
    jwt_algorithms: list[str] = ["RS256", "ES256"]
    # Tolerated clock difference with the provider (exp, iat, nbf).
    jwt_leeway_s: float = Field(10.0, ge=0)
    # The JWKS (docs/security.md, "Keys"): a key removed at the provider is refused within
    # jwt_jwks_cache_s (the set is refreshed in the background from half that age on).
    jwt_jwks_cache_s: float = Field(300.0, gt=0)
    # An unknown kid (rotation) fetches at once; fetches start at most once per this interval
    # (concurrent requests share one fetch), and a kid still unknown after a fetch is refused
    # without fetching for jwt_jwks_unknown_kid_ttl_s (made-up kids cannot hammer the provider).
    jwt_jwks_min_fetch_interval_s: float = Field(1.0, ge=0)
    jwt_jwks_unknown_kid_ttl_s: float = Field(60.0, gt=0)
    jwt_jwks_unknown_kid_cache_size: int = Field(10_000, ge=1)
    # Short: only requests with an unknown kid (or after an idle spell) ever wait for a fetch.
    jwt_jwks_timeout_s: float = Field(2.0, gt=0)
    # Provider outage: a failed fetch is retried after jwt_jwks_retry_s (the 503's Retry-After)
    # and the last keys fetched stay in use for jwt_jwks_stale_s after that fetch.
    jwt_jwks_retry_s: float = Field(10.0, gt=0)
    jwt_jwks_stale_s: float = Field(24 * 3600.0, gt=0)
    # Verified tokens are remembered (hot path) until their exp, at most jwt_token_cache_s, and
    # never longer than their key stays in the JWKS.
    jwt_token_cache_size: int = Field(4096, ge=0)
    jwt_token_cache_s: float = Field(300.0, ge=0)

    # Encryption at rest: key id -> base64 32-byte AES key; new data uses `encryption_key_id`.
    encryption_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {"dev1": SecretStr(DEV_ENCRYPTION_KEY)}
    )
    encryption_key_id: str = "dev1"
    lookup_hash_key: SecretStr = SecretStr(DEV_HASH_KEY)

    # Business days (ages, declaration delays, date filters) are days in the Region's zone.
    business_timezone: str = "Europe/Paris"

    log_level: str = "INFO"
    log_json: bool = True
    data_dir: Path = Path(".data")
    idempotency_retention_hours: int = 48
    # Strict-Transport-Security max-age sent on every response; 0 = none (set it when the
    # service is reached over HTTPS only). Shared: PACTE_HSTS_MAX_AGE_S.
    hsts_max_age_s: int = Field(default_factory=lambda: int(shared_variable("hsts_max_age_s", "0")), ge=0)
    # JSON bodies nested deeper than this are refused with 422 (Python's parser would overflow).
    max_json_depth: int = Field(64, ge=2)
    # Request bodies larger than this are refused with 413 while they stream in (every route);
    # a route may name a larger limit setting in its OpenAPI extra `x-body-limit-setting`.
    max_request_body_bytes: int = Field(1024 * 1024, ge=1)
    # Fair share (docs/security.md): each client's budget per kind of route, in the `limits`
    # syntax ("60/minute", per instance); heavy reports running at once per instance, and how
    # long the next one waits for a slot before a 503 with Retry-After.
    # `signing` is sized for a training centre whose ~150 trainees share one public address and
    # sign within a minute (docs/attendance.md §2).
    rate_limits: dict[str, str] = {"reports": "60/minute", "public": "300/minute", "signing": "1200/minute"}
    heavy_reports_concurrency: int = Field(2, ge=1)
    heavy_reports_wait_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _token_defaults_and_no_development_secrets(self) -> Self:
        if self.environment == DEVELOPMENT:
            self.jwt_issuer = self.jwt_issuer or DEV_ISSUER_URL
            if not self.jwt_jwks_url and not self.jwt_jwks:
                self.jwt_jwks_url = f"{DEV_ISSUER_URL}/jwks.json"
        self.jwt_audience = self.jwt_audience or self.audience_of(self.service_name)
        symmetric = sorted(set(self.jwt_algorithms) - ASYMMETRIC_ALGORITHMS)
        if symmetric or not self.jwt_algorithms:
            raise ValueError(f"jwt_algorithms: only asymmetric signatures are accepted (not {', '.join(symmetric) or 'an empty list'})")
        problems = development_secrets(self)
        if problems and self.environment != DEVELOPMENT:
            raise ValueError(
                f"refusing to run in environment {self.environment!r} with development or missing secrets: "
                + "; ".join(problems)
                + ". Set real ones (docs/security.md), or PACTE_ENVIRONMENT=development on a developer's machine."
            )
        return self


def development_secrets(settings: ServiceSettings) -> list[str]:
    """What in these settings is a development secret, or missing, for a real deployment."""
    problems = [
        f"encryption_keys[{key_id}] is the development key"
        for key_id, key in settings.encryption_keys.items()
        if key.get_secret_value() == DEV_ENCRYPTION_KEY
    ]
    if settings.lookup_hash_key.get_secret_value() == DEV_HASH_KEY:
        problems.append("lookup_hash_key is the development key")
    if not settings.jwt_issuer:
        problems.append("jwt_issuer is not set (the OpenID provider's issuer)")
    if not settings.jwt_jwks_url and not settings.jwt_jwks:
        problems.append("no JWKS: set jwt_jwks_url (the OpenID provider's jwks_uri)")
    if settings.jwt_issuer == DEV_ISSUER_URL or settings.jwt_jwks_url.startswith(DEV_ISSUER_URL):
        problems.append("the tokens would come from the development issuer")
    return problems
