"""Sandbox settings (env prefix PACTE_AGORA_SANDBOX_)."""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only token; the gateway's `agora_token` defaults to the same value.
DEV_SANDBOX_TOKEN = "pacte-dev-agora-sandbox-token"


class AgoraSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_AGORA_SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8005
    token: SecretStr = SecretStr(DEV_SANDBOX_TOKEN)
    # Faults at start (also settable at run time with PUT /v1/faults).
    latency_min_ms: int = 0
    latency_max_ms: int = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_delay_s: float = 15.0  # at most 15 (the faults API bounds it)
    random_seed: int | None = None
    max_bulk_files: int = 5000
