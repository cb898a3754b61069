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
    outbox_retention_hours: int = 24 * 7


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
