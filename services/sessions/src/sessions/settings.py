from pydantic_settings import SettingsConfigDict

from pacte_common.settings import ServiceSettings


class SessionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_SESSIONS_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "sessions"
    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./.data/sessions.db"
