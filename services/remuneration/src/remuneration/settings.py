from pydantic_settings import SettingsConfigDict

from pacte_common.settings import ServiceSettings


class RemunerationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_REMUNERATION_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "remuneration"
    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///./.data/remuneration.db"
