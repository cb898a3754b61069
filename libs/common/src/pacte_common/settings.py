"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only secrets: `pacte up` and the tests use them; every real deployment
# overrides them through the environment (see docker-compose.yml and docs/runbook.md).
DEV_JWT_SECRET = "pacte-dev-only-jwt-secret-change-me-in-production"
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktMzItYnl0ZXMtZW5jcnlwdGlvbi1rZXk="  # base64 of 32 bytes
DEV_HASH_KEY = "pacte-dev-only-lookup-hash-key"


class BusSettings(BaseSettings):
    """How a service reaches Kafka (or the embedded Tansu broker)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    # Prefix put before every topic name: isolates environments (and tests) sharing a cluster.
    topic_namespace: str = ""
    topic_partitions: int = 4
    fetch_max_wait_ms: int = 20
    request_timeout_ms: int = 10_000
    consumer_max_attempts: int = 5
    consumer_retry_backoff_s: float = 0.2
    relay_poll_interval_s: float = 0.2
    relay_batch_size: int = 200
    relay_max_backoff_s: float = 10.0
    # Sent outbox rows are kept this long: what a relay re-publishes when it finds a new broker
    # incarnation or its topics gone (see the runbook). Covers a broker outage up to this long.
    outbox_retention_hours: int = 24 * 7
    # How often relays and consumers compare the broker's cluster id and topics with what they
    # last saw (also checked on every (re)connection and partition assignment).
    incarnation_check_interval_s: float = 5.0
    # Transient failures (database down or locked, broker timeouts) are retried for ever,
    # with exponential backoff from consumer_retry_backoff_s up to this cap.
    transient_retry_max_backoff_s: float = 30.0
    # `pacte bus replay-dlq`: how long to wait for the consumers to handle what was replayed.
    replay_settle_timeout_s: float = 60.0


class ServiceSettings(BaseSettings):
    """Base of every service's settings. Subclasses set `env_prefix` (PACTE_<SERVICE>_)."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    service_name: str = "pacte"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite+aiosqlite:///./.data/pacte.db"
    database_echo: bool = False
    bus: BusSettings = Field(default_factory=BusSettings)
    # Background tasks (outbox relay, consumers, jobs) can be switched off for a process
    # that only serves HTTP; the relay and consumers must then run elsewhere.
    run_background_tasks: bool = True

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "pacte-dev"
    jwt_audience: str = "pacte"

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
    # Request bodies larger than this are refused with 413 while they stream in (every route);
    # a route may name a larger limit setting in its OpenAPI extra `x-body-limit-setting`.
    max_request_body_bytes: int = Field(1024 * 1024, ge=1)
