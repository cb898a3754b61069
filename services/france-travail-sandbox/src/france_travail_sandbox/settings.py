"""Sandbox settings (env prefix PACTE_FRANCE_TRAVAIL_SANDBOX_)."""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only token; the gateway's `france_travail_token` defaults to the same value.
DEV_SANDBOX_TOKEN = "pacte-dev-france-travail-sandbox-token"


class FranceTravailSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_FRANCE_TRAVAIL_SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8009
    token: SecretStr = SecretStr(DEV_SANDBOX_TOKEN)
    # A valid identifier never registered is known (without benefit) unless it starts with this.
    auto_register: bool = True
    unknown_prefix: str = "9"
