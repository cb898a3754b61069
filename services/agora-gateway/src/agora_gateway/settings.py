from pydantic_settings import SettingsConfigDict

from pacte_common.settings import ServiceSettings


class AgoraGatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_AGORA_GATEWAY_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "agora-gateway"
    port: int = 8004
    database_url: str = "sqlite+aiosqlite:///./.data/agora-gateway.db"
