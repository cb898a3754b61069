from datetime import timedelta

from pacte_common.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class OrientationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_ORIENTATION_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "orientation"
    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///./.data/orientation.db"

    # docs/rules.md §3.5: a prescription the organisation has not answered expires (ours: 30 days,
    # counted from its last transition: submission or positioning).
    prescription_expiry_delay: timedelta = timedelta(days=30)
    expiry_check_interval_s: float = Field(3600.0, gt=0)
    expiry_batch_size: int = Field(200, ge=1)
    # docs/rules.md §1.1: the Pacte serves people of working age.
    minimum_age_years: int = 16
    # Recruitment states in which a session takes new prescriptions ("full": waitlist only).
    prescribable_recruitment_states: list[str] = ["open", "full"]
    # Structure-code prefix → prescriber kind, used when the request does not name the kind.
    prescriber_kind_by_code_prefix: dict[str, str] = {
        "PE": "france_travail",
        "FT": "france_travail",
        "ML": "mission_locale",
        "CE": "cap_emploi",
        "CD": "departement",
        "SIAE": "siae",
    }
    default_page_size: int = Field(50, ge=1, le=500)
    # The Region's search of a person by name and birth date (docs/security.md, "Finding a
    # person"): at most this many persons answered; a longer list asks for more of the name.
    person_search_max_results: int = Field(20, ge=1, le=200)
