from pydantic_settings import SettingsConfigDict

from pacte_common.settings import ServiceSettings


class OrientationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_ORIENTATION_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "orientation"
    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///./.data/orientation.db"
